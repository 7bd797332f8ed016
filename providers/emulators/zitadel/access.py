"""Authorizations (v2 Connect, v1 user grants) and project roles and grants (v2 Connect)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from providers.emulators.state import Store
from providers.emulators.zitadel import wire
from providers.emulators.zitadel.wire import fail, required


class AccessMixin:
    """Who holds which project roles in which organization, and which roles exist."""

    store: Store
    project_id: str
    pager: wire.Pager
    owner_org: Callable[[], str]
    grant_event: Callable[[dict[str, Any], str, dict[str, Any]], None]
    project_event: Callable[[str, dict[str, Any]], None]

    def access_procedures(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Connect procedures (after `/zitadel.`) served only on Connect paths."""
        authz = "authorization.v2.AuthorizationService/"
        project = "project.v2.ProjectService/"
        return {
            authz + "ListAuthorizations": self.list_authorizations,
            authz + "ActivateAuthorization": partial(self.set_authz_state, active=True),
            authz + "DeactivateAuthorization": partial(self.set_authz_state, active=False),
            authz + "UpdateAuthorization": self.update_authorization,
            project + "GetProject": self.get_project,
            project + "ListProjectRoles": self.list_project_roles,
            project + "AddProjectRole": self.add_project_role,
            project + "UpdateProjectRole": self.update_project_role,
            project + "ListProjectGrants": self.list_project_grants,
            project + "CreateProjectGrant": partial(self.write_project_grant, create=True),
            project + "UpdateProjectGrant": partial(self.write_project_grant, create=False),
        }

    # -- authorizations ----------------------------------------------------------------------

    def _authz(self, body: dict[str, Any]) -> dict[str, Any]:
        doc = self.store.get("authz", required(body, "id"))
        if doc is None:
            raise fail("not_found", "QUERY-Dfb3g", "Authorization not found")
        return doc

    def _render(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Authorizations as ListAuthorizations returns them, with user, org and role names."""
        users = self.store.get_many("user", sorted({doc["userId"] for doc in docs}))
        orgs = self.store.get_many("org", sorted({doc["organizationId"] for doc in docs}))
        roles = {doc["key"]: doc for _, doc in self.store.find("role")}
        owner = self.owner_org()  # one stored setting a page, not one an authorization
        return [self._render_one(doc, users, orgs, roles, owner) for doc in docs]

    def _render_one(
        self,
        doc: dict[str, Any],
        users: dict[str, dict[str, Any]],
        orgs: dict[str, dict[str, Any]],
        roles: dict[str, dict[str, Any]],
        owner: str,
    ) -> dict[str, Any]:
        user = users.get(doc["userId"], {})
        org = orgs.get(doc["organizationId"], {})
        profile = user.get("human", {}).get("profile", {})
        return {
            "id": doc["id"],
            "creationDate": doc["creationDate"],
            "changeDate": doc["changeDate"],
            "project": {
                "id": doc["projectId"],
                "name": wire.PROJECT_NAME,
                "organizationId": owner,
            },
            "organization": {"id": doc["organizationId"], "name": org.get("name", "")},
            "user": {
                "id": doc["userId"],
                "preferredLoginName": user.get("preferredLoginName", ""),
                "displayName": profile.get("displayName", ""),
                "avatarUrl": "",
                "organizationId": user.get("details", {}).get("resourceOwner", ""),
            },
            "state": doc["state"],
            "roles": [
                {
                    "key": r["key"],
                    "displayName": r.get("displayName", ""),
                    "group": r.get("group", ""),
                }
                for r in (roles.get(key, {"key": key}) for key in doc["roleKeys"])
            ],
        }

    def list_authorizations(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ListAuthorizations: filters ANDed, offset paging."""
        filters, pagination = body.get("filters") or [], body.get("pagination") or {}
        # Every emulated authorization is on the one project, so that filter needs no scan.
        if all(f == {"projectId": {"id": self.project_id}} for f in filters):
            answer = self.pager.page("authz", pagination, "authorizations", style="pagination")
        else:
            ids = wire.listed_ids(filters, "authorizationIds", "ids")
            docs = [doc for _, doc in self.store.find("authz", ids=ids)]
            # Filters on the user or project read the rendered authorization, so go last.
            late = [q for q in filters if wire.one_query(q)[0] in wire.RENDERED_AUTHZ_FILTERS]
            for query in filters:
                if query not in late:
                    docs = [doc for doc in docs if wire.authz_matches(doc, query)]
            if late:
                docs = [
                    item
                    for item in self._render(docs)
                    if all(wire.rendered_authz_matches(item, query) for query in late)
                ]
            answer = wire.page(pagination, docs, "authorizations", style="pagination")
            if late:
                return answer
        answer["authorizations"] = self._render(answer["authorizations"])
        return answer

    def set_authz_state(self, body: dict[str, Any], *, active: bool) -> dict[str, Any]:
        """Idempotent by design: an authorization already in the target state is a success."""
        state = "STATE_ACTIVE" if active else "STATE_INACTIVE"
        with self.store.transaction():
            doc = self._authz(body)
            if doc["state"] != state:
                doc.update(state=state, changeDate=wire.now())
                self.store.put("authz", doc["id"], doc)
                self.grant_event(doc, "reactivated" if active else "deactivated", {})
        return {"changeDate": doc["changeDate"]}

    def update_authorization(self, body: dict[str, Any]) -> dict[str, Any]:
        """Replace the role keys; keys not listed are revoked."""
        keys = body.get("roleKeys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise fail("invalid_argument", "AUTHZ-roleKeys", "roleKeys must be a list of keys")
        with self.store.transaction():
            doc = self._authz(body)
            keys = list(dict.fromkeys(keys))
            if not set(keys) <= self._grantable(doc["organizationId"]):
                raise fail("failed_precondition", "COMMAND-mm9F4", "Role not found")
            if keys != doc["roleKeys"]:
                doc.update(roleKeys=keys, changeDate=wire.now())
                self.store.put("authz", doc["id"], doc)
                self.grant_event(doc, "changed", {"roleKeys": keys})
        return {"changeDate": doc["changeDate"]}

    def _grantable(self, org_id: str) -> set[str]:
        """Role keys an organization may hand out: all (owner) or its project grant's."""
        keys = {doc["key"] for _, doc in self.store.find("role")}
        if org_id == self.owner_org():
            return keys
        grant = self.store.get("pgrant", org_id) or {}
        return keys & set(grant.get("grantedRoleKeys", []))

    def search_user_grants(self, body: dict[str, Any]) -> dict[str, Any]:
        """v1 ListUserGrants over the same authorizations."""
        docs = [doc for _, doc in self.store.find("authz")]
        answer = wire.page(body.get("query") or {}, docs, "result", style="v1")
        answer["result"] = [
            {
                "id": d["id"],
                "details": {"sequence": "1", "changeDate": d["changeDate"]},
                "roleKeys": d["roleKeys"],
                "state": d["state"].replace("STATE_", "USER_GRANT_STATE_"),
                "userId": d["userId"],
                "orgId": d["organizationId"],
                "projectId": d["projectId"],
            }
            for d in answer["result"]
        ]
        return answer

    def grant_v1(self, body: dict[str, Any], *, active: bool) -> dict[str, Any]:
        """v1 user grants are not idempotent: the state already held is an error."""
        state = "STATE_ACTIVE" if active else "STATE_INACTIVE"
        with self.store.transaction():
            doc = self._authz(body)
            if doc["userId"] != body.get("userId"):
                raise fail("not_found", "COMMAND-4M0fs", "User grant not found")
            if doc["state"] == state and active:
                raise fail("failed_precondition", "COMMAND-1ML0v", "User grant is not inactive")
            if doc["state"] == state:
                raise fail("failed_precondition", "COMMAND-1S9gx", "User grant is not active")
            doc.update(state=state, changeDate=wire.now())
            self.store.put("authz", doc["id"], doc)
            self.grant_event(doc, "reactivated" if active else "deactivated", {})
        details = {"sequence": "2", "changeDate": doc["changeDate"]}
        return {"details": {**details, "resourceOwner": doc["organizationId"]}}

    # -- projects, roles, grants -------------------------------------------------------------

    def _project(self, body: dict[str, Any]) -> str:
        project_id = required(body, "projectId")
        if project_id != self.project_id:
            raise fail("not_found", "PROJECT-3M9sd", "Project not found")
        return project_id

    def get_project(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 GetProject (the one project the emulator holds)."""
        project = {
            "projectId": self._project(body),
            "organizationId": self.owner_org(),
            "creationDate": wire.SEED_TIME,
            "changeDate": wire.SEED_TIME,
            "name": wire.PROJECT_NAME,
            "state": "PROJECT_STATE_ACTIVE",
            "projectRoleAssertion": True,
            "authorizationRequired": False,
            "projectAccessRequired": False,
            "privateLabelingSetting": "PRIVATE_LABELING_SETTING_UNSPECIFIED",
            "grantedState": "GRANTED_PROJECT_STATE_UNSPECIFIED",
        }
        return {"project": project}

    def list_project_roles(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ListProjectRoles, filtered by key."""
        self._project(body)
        docs = [doc for _, doc in self.store.find("role")]
        for query in body.get("filters") or []:
            kind, spec = wire.one_query(query)
            if kind != "roleKeyFilter":
                raise fail("invalid_argument", "PROJECT-query", f"unsupported filter {kind!r}")
            method = spec.get("method", wire.EQUALS)
            docs = [d for d in docs if wire.text_match(d["key"], spec.get("key", ""), method)]
        return wire.page(body.get("pagination") or {}, docs, "projectRoles", style="pagination")

    def add_project_role(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 AddProjectRole: a duplicate key is ALREADY_EXISTS."""
        self._project(body)
        key, name = required(body, "roleKey"), required(body, "displayName")
        with self.store.transaction():
            if self.store.get("role", key) is not None:
                raise fail("already_exists", "PROJECT-Mm9sd", "Role already exists")
            doc = wire.role_doc(key, name, str(body.get("group") or ""), wire.now())
            self.store.insert("role", key, doc)
            self.project_event("project.role.added", {"key": key})
        return {"creationDate": doc["creationDate"]}

    def update_project_role(self, body: dict[str, Any]) -> dict[str, Any]:
        """Change a role's display name or group; the key cannot change."""
        self._project(body)
        with self.store.transaction():
            role = self.store.get("role", required(body, "roleKey"))
            if role is None:
                raise fail("not_found", "COMMAND-MwFs3", "Role not found")
            changes = {f: str(body[f]) for f in ("displayName", "group") if body.get(f) is not None}
            if all(role.get(field) == value for field, value in changes.items()):
                raise fail("failed_precondition", "COMMAND-eS8z7", "No changes")
            role.update(changes, changeDate=wire.now())
            self.store.put("role", role["key"], role)
            self.project_event("project.role.changed", {"key": role["key"]})
        return {"changeDate": role["changeDate"]}

    def list_project_grants(self, body: dict[str, Any]) -> dict[str, Any]:
        """v2 ListProjectGrants, by granted organization or project."""
        docs = [doc for _, doc in self.store.find("pgrant")]
        for query in body.get("filters") or []:
            kind, spec = wire.one_query(query)
            if kind == "grantedOrganizationIdFilter":
                docs = [d for d in docs if d["grantedOrganizationId"] == spec.get("id")]
            elif kind == "inProjectIdsFilter":
                docs = [d for d in docs if d["projectId"] in (spec.get("ids") or [])]
            else:
                raise fail("invalid_argument", "PROJECT-query", f"unsupported filter {kind!r}")
        return wire.page(body.get("pagination") or {}, docs, "projectGrants", style="pagination")

    def write_project_grant(self, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
        """Create a grant, or replace its role keys (the whole list)."""
        self._project(body)
        org_id = required(body, "grantedOrganizationId")
        keys = sorted(set(body.get("roleKeys") or []))
        with self.store.transaction():
            org = self.store.get("org", org_id)
            if org is None:
                raise fail("failed_precondition", "COMMAND-3m9gg", "Organisation not found")
            if org_id == self.owner_org():
                raise fail("invalid_argument", "PROJECT-s7k2d", "Project owner cannot be granted")
            if not set(keys) <= {doc["key"] for _, doc in self.store.find("role")}:
                raise fail("failed_precondition", "COMMAND-6m9gd", "Role not found")
            grant = self.store.get("pgrant", org_id)
            stamp = wire.now()
            if create:
                if grant is not None:
                    raise fail("already_exists", "PROJECT-3b8fs", "Project grant already exists")
                self.store.insert(
                    "pgrant", org_id, wire.grant_doc(self.owner_org(), org, keys, stamp)
                )
                self.project_event("project.grant.added", {"grantedOrgId": org_id})
                return {"creationDate": stamp}
            if grant is None:
                raise fail("not_found", "PROJECT-D8JxR", "Project grant not found")
            grant.update(grantedRoleKeys=keys, changeDate=stamp)
            self.store.put("pgrant", org_id, grant)
            self.project_event("project.grant.changed", {"grantedOrgId": org_id})
        return {"changeDate": stamp}
