"""The ZITADEL emulator app: routing, auth, errors, users and organizations."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from providers.emulators.seed import Dataset, demo_dataset, paused_gc
from providers.emulators.server import EmulatorApp, Handler, HTTPError, Request, Response
from providers.emulators.state import Store
from providers.emulators.zitadel import wire
from providers.emulators.zitadel.access import AccessMixin
from providers.emulators.zitadel.events import EventsMixin
from providers.emulators.zitadel.wire import fail, required

Operation = Callable[[dict[str, Any]], dict[str, Any]]
HUMANS = {"typeQuery": {"type": "TYPE_HUMAN"}}


class ZitadelEmulator(AccessMixin, EventsMixin, EmulatorApp):
    """Speaks ZITADEL's admin APIs over one Store; ids are numeric strings like ZITADEL's.

    Every operation takes the request body as a dict; REST routes fold path ids into it.
    Rate limiting (the shared fault switch) answers 429 with gRPC code 8 RESOURCE_EXHAUSTED;
    ZITADEL Cloud documents no Retry-After, but the switch's header is kept for the shared tests.
    """

    name = "zitadel"

    def __init__(self, store: Store | None = None, token: str = wire.DEFAULT_TOKEN) -> None:
        self.store = store or Store()
        self.token = token
        self.project_id = wire.PROJECT_ID
        self.pager = wire.Pager(self.store)
        self.init_events()
        self.connect: dict[str, Operation] = {
            "user.v2.UserService/ListUsers": self.list_users,
            "user.v2.UserService/GetUserByID": self.get_user,
            "user.v2.UserService/AddHumanUser": self.add_human_user,
            "user.v2.UserService/CreateUser": self.create_user,
            "user.v2.UserService/DeactivateUser": self.deactivate_user,
            "user.v2.UserService/ReactivateUser": self.reactivate_user,
            "org.v2.OrganizationService/ListOrganizations": self.list_orgs,
            "org.v2.OrganizationService/ActivateOrganization": partial(self.org_v2, active=True),
            "org.v2.OrganizationService/DeactivateOrganization": partial(self.org_v2, active=False),
            **self.access_procedures(),
        }
        super().__init__()

    def routes(self) -> Iterable[tuple[str, str, Handler]]:
        """REST paths for users, orgs, v1 management and v3alpha; one route for Connect."""
        user = r"/v2/users/(?P<userId>\d+)"
        org = r"/v2/organizations/(?P<organizationId>\d+)"
        grant = r"/management/v1/users/(?P<userId>\d+)/grants/(?P<id>\d+)"
        me = "/management/v1/orgs/me"
        return [
            ("POST", r"/zitadel\.(?P<procedure>[\w.]+/\w+)", self._connect_call),
            ("POST", "/v2/users", self._op(self.list_users)),
            ("POST", "/v2/users/human", self._op(self.add_human_user, status=201)),
            ("POST", "/v2/users/new", self._op(self.create_user, status=201)),
            ("GET", user, self._op(self.get_user)),
            ("POST", user + "/deactivate", self._op(self.deactivate_user)),
            ("POST", user + "/reactivate", self._op(self.reactivate_user)),
            ("POST", r"/resources/v3alpha/users/(?P<userId>\d+)/_activate", self._op(self.v3)),
            ("POST", "/v2/organizations/_search", self._op(self.list_orgs)),
            ("POST", "/admin/v1/events/_search", self.list_events),
            ("POST", org + "/activate", self._op(partial(self.org_v2, active=True))),
            ("POST", org + "/deactivate", self._op(partial(self.org_v2, active=False))),
            ("GET", me, self._me(self.org_v1)),
            ("POST", me + "/_reactivate", self._me(partial(self.set_org_state, active=True))),
            ("POST", me + "/_deactivate", self._me(partial(self.set_org_state, active=False))),
            ("POST", "/management/v1/users/grants/_search", self._op(self.search_user_grants)),
            ("POST", grant + "/_reactivate", self._op(partial(self.grant_v1, active=True))),
            ("POST", grant + "/_deactivate", self._op(partial(self.grant_v1, active=False))),
        ]

    def authenticate(self, request: Request) -> None:
        """A service user's personal access token as a Bearer token."""
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            raise fail("unauthenticated", "AUTH-7fs1e", "Token is invalid")

    def error_body(self, request: Request, error: HTTPError, request_id: str) -> Any:
        """ZITADEL's REST or Connect error body, by path."""
        return wire.error_body(request.path, error)

    def reset(self, dataset: Dataset | None = None) -> None:
        """Reload demo data (or `dataset`) in ZITADEL's shapes and switch faults off."""
        super().reset()
        with paused_gc(), self.store.transaction():
            self.store.clear()
            wire.load(self.store, dataset or demo_dataset())

    def _op(self, operation: Operation, status: int = 200) -> Handler:
        def handler(request: Request, **path_ids: str) -> Response:
            return Response(status, operation({**wire.read_body(request), **path_ids}))

        return handler

    def _me(self, operation: Operation) -> Handler:
        """v1 `orgs/me` calls act on the org named by x-zitadel-orgid (default: the caller's)."""

        def handler(request: Request) -> Response:
            org_id = request.headers.get("x-zitadel-orgid") or self.owner_org()
            return Response(200, operation({**wire.read_body(request), "organizationId": org_id}))

        return handler

    def _connect_call(self, request: Request, procedure: str) -> Response:
        operation = self.connect.get(procedure)
        if operation is None:
            raise fail("unimplemented", "", f"unknown procedure zitadel.{procedure}")
        return Response(200, operation(wire.read_body(request)))

    def owner_org(self) -> str:
        """The organization that owns the project (and the calling service user)."""
        return self.store.get_meta("owner_org") or ""

    # -- users -----------------------------------------------------------------------------

    def _user(self, body: dict[str, Any], error_id: str) -> dict[str, Any]:
        if not body.get("userId"):
            raise fail("invalid_argument", "USERv2-fdsf2", "User ID missing")
        user = self.store.get("user", str(body["userId"]))
        if user is None or user["state"] == "USER_STATE_DELETED":
            raise fail("not_found", error_id, "User could not be found")
        return user

    def list_users(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ListUsers: queries ANDed, offset paging."""
        queries = body.get("queries") or []
        sort = body.get("sortingColumn") or "USER_FIELD_NAME_CREATION_DATE"
        # Every emulated user is human, so a type filter alone needs no scan.
        if sort == "USER_FIELD_NAME_CREATION_DATE" and all(q == HUMANS for q in queries):
            return self.pager.page("user", body.get("query") or {}, "result", sortingColumn=sort)
        ids = wire.listed_ids(queries, "inUserIdsQuery", "userIds")
        # One state query is also asked of SQLite: only the users in that state are decoded
        # (the filters below still apply every query).
        asked = [wire.one_query(query) for query in queries]
        states = [spec.get("state") for kind, spec in asked if kind == "stateQuery"]
        where = {"state": states} if len(states) == 1 and isinstance(states[0], str) else None
        docs = [doc for _, doc in self.store.find("user", ids=ids, where=where)]
        for query in queries:
            docs = [doc for doc in docs if wire.user_matches(doc, query)]
        if sort in {"USER_FIELD_NAME_USER_NAME", "USER_FIELD_NAME_EMAIL"}:
            docs.sort(key=lambda doc: doc["username"])
        return wire.page(body.get("query") or {}, docs, "result", sortingColumn=sort)

    def get_user(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 GetUserByID."""
        user = self._user(body, "QUERY-Dfbg2")
        return {"details": user["details"], "user": user}

    def add_human_user(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 AddHumanUser (deprecated for CreateUser): a new, active human user."""
        organization = _object(body, "organization")
        org_id = str(organization.get("orgId") or "")
        if not org_id and organization.get("orgDomain"):
            domain = str(organization["orgDomain"])
            found = self.store.find("org", where={"primaryDomain": [domain]}, limit=1)
            org_id = found[0][1]["id"] if found else domain
        doc = self._create_human(body, org_id)
        return {"userId": doc["userId"], "details": doc["details"]}

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 CreateUser: AddHumanUser's successor, with the human's fields under `human`."""
        if "machine" in body:
            raise fail("unimplemented", "EMULATOR-machine", "machine users are not emulated")
        human = _object(body, "human")
        if not human:
            raise fail("invalid_argument", "USERv2-7bBkV", "human or machine is required")
        fields = {**human, "username": body.get("username"), "userId": body.get("userId")}
        doc = self._create_human(fields, str(body.get("organizationId") or ""))
        return {"id": doc["userId"], "creationDate": doc["details"]["changeDate"]}

    def _create_human(self, body: dict[str, Any], org_id: str) -> dict[str, Any]:
        """Store a new human user; the v2 API has no initial state, so it starts ACTIVE."""
        email, profile = _object(body, "email"), _object(body, "profile")
        address = str(email.get("email") or "")
        names = (str(profile.get("givenName") or ""), str(profile.get("familyName") or ""))
        if "@" not in address or not all(names):
            raise fail("invalid_argument", "USER-4GSDf", "Email, given and family name required")
        username = str(body.get("username") or address)
        org_id = org_id or self.owner_org()
        with self.store.transaction():
            if self.store.get("org", org_id) is None:
                raise fail("failed_precondition", "COMMAND-3m9gg", "Organisation not found")
            if self.store.find("user", where={"username": [username]}, limit=1):
                raise fail("already_exists", "COMMAND-k2unb", "User already exists")
            user_id = str(body.get("userId") or "") or wire.new_id(self.store)
            if self.store.get("user", user_id) is not None:
                raise fail("already_exists", "COMMAND-k2unb", "User already exists")
            verified = bool(email.get("isVerified"))
            doc = wire.user_doc(
                user_id, org_id, "USER_STATE_ACTIVE", address, names, verified, wire.now()
            )
            doc.update(username=username, loginNames=[username], preferredLoginName=username)
            self.store.insert("user", user_id, doc, parent=org_id)
            self.emit("user", user_id, org_id, "user.human.added", {"userName": username})
        return doc

    def _set_user_state(self, user: dict[str, Any], state: str) -> dict[str, Any]:
        user["details"] = wire.bump(user["details"], user["details"]["resourceOwner"])
        user["state"] = state
        self.store.put("user", user["userId"], user)
        verb = "deactivated" if state == "USER_STATE_INACTIVE" else "reactivated"
        self.emit("user", user["userId"], user["details"]["resourceOwner"], f"user.{verb}", {})
        return {"details": user["details"]}

    def deactivate_user(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 DeactivateUser with the preconditions of `user_v2.go`."""
        with self.store.transaction():
            user = self._user(body, "COMMAND-5gp2p62iin")
            if user["state"] == "USER_STATE_INITIAL":
                raise fail(
                    "failed_precondition",
                    "COMMAND-gvx4kct9r2",
                    "User with state initial can only be deleted not deactivated",
                )
            if user["state"] == "USER_STATE_INACTIVE":
                raise fail("failed_precondition", "COMMAND-5gunjw0cd7", "User already inactive")
            return self._set_user_state(user, "USER_STATE_INACTIVE")

    def reactivate_user(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ReactivateUser: only an inactive user."""
        with self.store.transaction():
            user = self._user(body, "COMMAND-9hy5kzbuk6")
            if user["state"] != "USER_STATE_INACTIVE":
                raise fail("failed_precondition", "COMMAND-s5qqcz97hf", "User is not inactive")
            return self._set_user_state(user, "USER_STATE_ACTIVE")

    def v3(self, body: dict[str, Any]) -> dict[str, Any]:
        """v3alpha _activate: the stored server answers NotFound for a user not inactive."""
        with self.store.transaction():
            user = self.store.get("user", str(body.get("userId")))
            if user is None or user["state"] != "USER_STATE_INACTIVE":
                raise fail("not_found", "COMMAND-rQjbBr4J3j", "User could not be found")
            self._set_user_state(user, "USER_STATE_ACTIVE")
        owner = {"type": "OWNER_TYPE_ORG", "id": user["details"]["resourceOwner"]}
        changed = user["details"]["changeDate"]
        details = {"id": user["userId"], "created": wire.SEED_TIME, "changed": changed}
        return {"details": {**details, "owner": owner}}

    # -- organizations ---------------------------------------------------------------------

    def list_orgs(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ListOrganizations: queries ANDed, offset paging."""
        docs = [doc for _, doc in self.store.find("org")]
        for query in body.get("queries") or []:
            docs = [doc for doc in docs if wire.org_matches(doc, query)]
        sort = body.get("sortingColumn") or "ORGANIZATION_FIELD_NAME_UNSPECIFIED"
        if sort == "ORGANIZATION_FIELD_NAME_NAME":
            docs.sort(key=lambda doc: doc["name"].lower())
        return wire.page(body.get("query") or {}, docs, "result", sortingColumn=sort)

    def set_org_state(self, body: dict[str, Any], *, active: bool) -> dict[str, Any]:
        """The one command behind v1 _reactivate/_deactivate and v2 activate/deactivate."""
        org_id = str(body.get("organizationId") or "")
        with self.store.transaction():
            org = self.store.get("org", org_id)
            if org is None or org["state"] == "ORGANIZATION_STATE_REMOVED":
                error_id = "ORG-Dgf3g" if active else "ORG-oL9nT"
                raise fail("not_found", error_id, "Organisation not found")
            target = f"ORGANIZATION_STATE_{'ACTIVE' if active else 'INACTIVE'}"
            if org["state"] == target and active:
                raise fail("failed_precondition", "EVENT-bfnrh", "Organisation is already active")
            if org["state"] == target:
                raise fail(
                    "failed_precondition", "EVENT-Dbs2g", "Organisation is already deactivated"
                )
            org["state"] = target
            org["details"] = wire.bump(org["details"], org_id)
            self.store.put("org", org_id, org)
            verb = "reactivated" if active else "deactivated"
            self.emit("org", org_id, org_id, f"org.{verb}", {})
        return {"details": org["details"]}

    def org_v2(self, body: dict[str, Any], *, active: bool) -> dict[str, Any]:
        """v2 ActivateOrganization / DeactivateOrganization."""
        required(body, "organizationId")
        answer = self.set_org_state(body, active=active)
        return {"changeDate": answer["details"]["changeDate"]}

    def org_v1(self, body: dict[str, Any]) -> dict[str, Any]:
        """v1 GetMyOrganization, with v1 state names."""
        org = self.store.get("org", body["organizationId"])
        if org is None:
            raise fail("not_found", "QUERY-iTTGJ", "Organisation not found")
        return {"org": {**org, "state": org["state"].replace("ORGANIZATION_", "ORG_")}}


def _object(body: dict[str, Any], field: str) -> dict[str, Any]:
    """A nested message of a request body; anything but an object counts as absent."""
    value = body.get(field)
    return value if isinstance(value, dict) else {}
