"""The console benchmark's dataset: generated rows and their bulk load into a scratch database.

Used by benchmarks/console_bench.py; imports Django lazily, after the bench has configured it.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

BATCH = 50_000
FIRST = "ada alan amira ben chen chloe dana diego elena emil farah felix grace hana ivan jonas kai"
FIRST += " lara leo lina marco maya nadia noah omar priya quinn rosa sam tariq"
LAST = "adams baker brown chen cohen costa diaz evans fischer garcia gupta hansen ito jones kim lee"
LAST += " kowalski lopez martin meyer moreau nguyen novak okafor olsen patel petrov reyes rossi"
LAST += " sato schmidt silva smith tanaka taylor walker weber white wilson young"
ORG_NAMES = "Acme Globex Initech Umbrella Hooli Stark Wayne Wonka Tyrell Soylent Vandelay"
ORG_KINDS = "Labs Group Bank Health Logistics Partners Retail Energy Media Foods"
EVENTS = (
    ("request.created", "requested"),
    ("request.approved", "succeeded"),
    ("membership.reactivated", "succeeded"),
    ("membership.deactivated", "succeeded"),
    ("membership.roles_set", "succeeded"),
    ("user.refreshed", "recorded"),
    ("membership.reactivated", "denied"),
    ("membership.reactivated", "failed"),
)
MIRROR = ("id", "provider", "external_id", "synced_at", "created_at", "updated_at")
AUDIT_COLUMNS = (
    "sequence", "occurred_at", "event_type", "outcome", "actor_id", "actor_repr", "via",
    "target_type", "target_id", "target_repr", "organization_external_id", "user_external_id",
    "reason", "error_code", "provider_request_id", "before", "after", "data", "user_agent",
    "request_id", "correlation_id", "prev_hash", "hash",
)  # fmt: skip
REQUEST_COLUMNS = (
    "target_type", "target_key", "membership_id", "requested_by_id", "reason", "status",
    "created_at", "expires_at", "decision_comment", "error_code", "error_message",
    "correlation_id",
)  # fmt: skip


class Dataset:
    """Generated rows, a pure function of the sizes: the same data on every database."""

    def __init__(self, args: argparse.Namespace, vendor: str) -> None:
        self.n_users, self.n_orgs = args.users, args.orgs
        self.n_memberships, self.n_events = args.memberships, args.events
        self.per_user = max(1, -(-self.n_memberships // self.n_users))
        self.vendor, self.now = vendor, datetime.now(UTC)
        self.ts = self.stamp(self.now)

    def stamp(self, moment: datetime) -> str:
        """A timestamp as the backend stores it (SQLite: naive UTC text)."""
        if self.vendor == "sqlite":
            return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment.isoformat()

    def org_of(self, j: int) -> int:
        """Membership j's org: each person's first is in org 1, the others spread evenly."""
        user, k = divmod(j, self.per_user)
        return 1 if k == 0 else 2 + (user * (self.per_user - 1) + k - 1) % (self.n_orgs - 1)

    def organizations(self) -> Iterator[tuple]:
        """Orgs with company-like names; about one in a hundred inactive."""
        rng, ts = random.Random(1), self.ts
        names, kinds = ORG_NAMES.split(), ORG_KINDS.split()
        for n in range(1, self.n_orgs + 1):
            name = f"{rng.choice(names)} {rng.choice(kinds)} {n}"
            state = "inactive" if n % 97 == 3 else "active"
            yield (n, "sandbox", f"org_{n:06d}", ts, ts, ts, name, state, state)

    def people(self) -> Iterator[tuple]:
        """People with common names and unique emails, as (mirror part, own part) pairs."""
        rng, ts, firsts, lasts = random.Random(2), self.ts, FIRST.split(), LAST.split()
        for n in range(1, self.n_users + 1):
            first, last = rng.choice(firsts), rng.choice(lasts)
            email = f"{first}.{last}.{n}@customer{n % 500}.example"
            state = "inactive" if n % 23 == 4 else "active"
            yield (n, "sandbox", f"user_{n:07d}", ts, ts, ts, email, first.title(), last.title())
            yield (True, state, state)

    def memberships(self) -> Iterator[tuple]:
        """Memberships, some inactive or pending, as (mirror part, own part) pairs."""
        ts = self.ts
        for j in range(self.n_memberships):
            state = ("inactive",) * 2 if j % 13 == 5 else ("active",) * 2
            state = ("pending", "invited") if j % 29 == 7 else state
            yield (j + 1, "sandbox", f"om_{j + 1:08d}", ts, ts, ts, self.org_of(j))
            yield (j // self.per_user + 1, *state)

    def membership_roles(self) -> Iterator[tuple]:
        """Every membership has `member`; one in twenty also `org-admin`."""
        for j in range(self.n_memberships):
            yield (j + 1, self.org_of(j), "member")
            if j % 20 == 3:
                yield (j + 1, self.org_of(j), "org-admin")

    def organization_roles(self) -> Iterator[tuple]:
        """Environment roles, then two roles per organization."""
        ts, n = self.ts, 0
        for org in (None, *range(1, self.n_orgs + 1)):
            for slug in ("admin", "member") if org is None else ("org-admin", "org-viewer"):
                n += 1
                yield (n, "sandbox", f"role_{n:06d}", ts, ts, ts, org, slug, slug.title(), "")

    def requests(self, requester: int) -> Iterator[tuple]:
        """300 pending reactivation requests for inactive memberships."""
        expires = self.stamp(self.now + timedelta(days=2))
        for j in range(5, min(self.n_memberships, 300 * 13), 13):
            yield ("membership", f"membership:{j + 1}", j + 1, requester, "Customer asked")
            yield ("pending", self.ts, expires, "", "", "", "")

    def audit_events(self, actors: list[tuple[int, str]], after: int = 0) -> Iterator[tuple]:
        """Events over the last year about random memberships, hash-linked (not verifiable),
        numbered after the `after` events the set-up itself recorded."""
        rng, previous = random.Random(3), "0" * 64
        first, step = self.now - timedelta(days=365), timedelta(days=365) / max(1, self.n_events)
        for seq in range(after + 1, after + self.n_events + 1):
            j = rng.randrange(self.n_memberships)
            user, org = j // self.per_user + 1, self.org_of(j)
            event_type, outcome = EVENTS[seq % len(EVENTS)]
            actor_id, actor = actors[seq % len(actors)]
            digest = hashlib.sha256(f"{previous}{seq}".encode()).hexdigest()
            yield (
                seq, self.stamp(first + step * seq), event_type, outcome, actor_id, actor,
                "console", "membership", str(j + 1), f"user{user} in org{org}",
                f"org_{org:06d}", f"user_{user:07d}", "Customer asked", "", "",
                '{"status": "inactive"}', '{"status": "active"}', "{}", "Mozilla/5.0 (bench)",
                f"req-{seq}", f"{seq:032x}", previous, digest,
            )  # fmt: skip
            previous = digest


def rows_of(parts: Iterator[tuple]) -> Iterator[tuple]:
    """Join the generators' two-part rows (mirror fields, then the model's own)."""
    for head, tail in itertools.batched(parts, 2):
        yield head + tail


def load(table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    """Bulk insert in batches of 50,000: executemany on SQLite, COPY on PostgreSQL."""
    from django.db import connection, transaction

    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608
    count = 0
    for batch in itertools.batched(rows, BATCH):
        with transaction.atomic():
            raw = connection.connection
            if connection.vendor == "sqlite":
                raw.executemany(insert, batch)
            else:
                with raw.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
        count += len(batch)
    return count


def grow_tree(after: int, chunk: int = 50_000) -> None:
    """Merkle tree nodes for the bulk-loaded events, as appending them would have written them.

    Signing in appends an event, which needs the tree's frontier over every earlier event.
    """
    from accounts import audit_rows, audit_tree
    from accounts.merkle import leaf_hash

    size, leaves = after, []
    for sequence, _prev, _hash, canonical in audit_rows.rows():
        if sequence <= after:
            continue
        leaves.append(leaf_hash(canonical))
        if len(leaves) == chunk:
            audit_tree.write_nodes(audit_tree.new_nodes(size, leaves))
            size, leaves = size + len(leaves), []
    if leaves:
        audit_tree.write_nodes(audit_tree.new_nodes(size, leaves))


def build(data: Dataset) -> dict[str, Any]:
    """Migrate, add staff, bulk-load the mirror, requests and audit log, analyse; the counts."""
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.core.management.color import no_style
    from django.db import connection

    from accounts import models
    from accounts.permissions import AUDITOR, HELP_DESK, MANAGER

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    migrated = time.perf_counter() - started
    staff = {}
    for name, group in (("manager", MANAGER), ("helpdesk", HELP_DESK), ("auditor", AUDITOR)):
        staff[name] = User.objects.create_user(f"bench.{name}", is_staff=True)
        staff[name].groups.add(Group.objects.get(name=group))
    if connection.vendor == "sqlite":
        connection.connection.execute("PRAGMA synchronous=OFF")
    org_fields = ("name", "status", "raw_status")
    person_fields = ("email", "first_name", "last_name", "email_verified", "status", "raw_status")
    role_fields = ("organization_id", "slug", "name", "description")
    actors = [(staff[n].pk, staff[n].username) for n in ("helpdesk", "manager")]
    counts = {
        "organizations": load("accounts_organization", MIRROR + org_fields, data.organizations()),
        "people": load("accounts_provideruser", MIRROR + person_fields, rows_of(data.people())),
        "memberships": load(
            "accounts_organizationmembership",
            (*MIRROR, "organization_id", "user_id", "status", "raw_status"),
            rows_of(data.memberships()),
        ),
        "membership_roles": load(
            "accounts_membershiprole",
            ("membership_id", "organization_id", "slug"),
            data.membership_roles(),
        ),
        "organization_roles": load(
            "accounts_organizationrole", MIRROR + role_fields, data.organization_roles()
        ),
        "pending_requests": load(
            "accounts_reactivationrequest",
            REQUEST_COLUMNS,
            rows_of(data.requests(staff["helpdesk"].pk)),
        ),
    }
    # Creating the staff is audited: the loaded events come after those.
    recorded = models.AuditEvent.objects.count()
    counts["audit_events"] = load(
        "accounts_auditevent", AUDIT_COLUMNS, data.audit_events(actors, after=recorded)
    )
    grow_tree(after=recorded)
    loaded = [
        models.Organization,
        models.ProviderUser,
        models.OrganizationMembership,
        models.OrganizationRole,
    ]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), loaded):
            cursor.execute(sql)
        cursor.execute("ANALYZE" if connection.vendor == "sqlite" else "VACUUM ANALYZE")
    return {
        "counts": counts,
        "migrate_seconds": round(migrated, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
