"""Provider-neutral demo data; each emulator loads it in its own wire format."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

ORGANIZATIONS = [
    ("Acme Logistics", "acme-logistics.example"),
    ("Globex Health", "globex-health.example"),
    ("Initech Finance", "initech.example"),
    ("Umbrella Research", "umbrella-research.example"),
    ("Stark Manufacturing", "stark-mfg.example"),
    ("Wayne Retail", "wayne-retail.example"),
]
FIRST_NAMES = [
    "Amara",
    "Bruno",
    "Chen",
    "Dalia",
    "Emeka",
    "Freya",
    "Gustavo",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quentin",
    "Rosa",
    "Sami",
    "Tomasz",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zora",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Haddad",
    "Novak",
    "Silva",
    "Kowalski",
    "Mensah",
    "Fischer",
    "Ibrahim",
    "Rossi",
    "Nakamura",
    "Petrov",
    "Alvarez",
    "Byrne",
]
ENVIRONMENT_ROLES = [("admin", "Admin"), ("member", "Member")]
ORGANIZATION_ROLES = [
    ("org-admin", "Organization Admin"),
    ("org-billing", "Billing Manager"),
    ("org-viewer", "Read-only Viewer"),
]


@dataclass(frozen=True)
class SeedOrganization:
    """A demo organization; `active` is False for one, so reactivation can be shown."""

    key: int
    name: str
    domain: str
    active: bool


@dataclass(frozen=True)
class SeedPerson:
    """A demo person (a provider user, not a staff login)."""

    key: int
    first_name: str
    last_name: str
    email: str
    email_verified: bool
    active: bool


@dataclass(frozen=True)
class SeedMembership:
    """A demo membership; status is active, inactive or pending."""

    organization: int
    person: int
    status: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class SeedRole:
    """A demo role; organization None means environment-wide."""

    organization: int | None
    slug: str
    name: str


@dataclass(frozen=True)
class Dataset:
    """Everything an emulator needs to look like a lived-in tenant."""

    organizations: list[SeedOrganization]
    people: list[SeedPerson]
    memberships: list[SeedMembership]
    roles: list[SeedRole]


def demo_dataset(people: int = 72, seed: int = 2026) -> Dataset:
    """A deterministic dataset: 6 organizations, `people` users, memberships in every status."""
    rng = random.Random(seed)
    organizations = [
        SeedOrganization(key=i, name=name, domain=domain, active=i != len(ORGANIZATIONS) - 1)
        for i, (name, domain) in enumerate(ORGANIZATIONS)
    ]
    roles = [SeedRole(None, slug, name) for slug, name in ENVIRONMENT_ROLES]
    for org in organizations:
        roles.extend(SeedRole(org.key, slug, name) for slug, name in ORGANIZATION_ROLES)
    persons: list[SeedPerson] = []
    memberships: list[SeedMembership] = []
    for key in range(people):
        first = FIRST_NAMES[key % len(FIRST_NAMES)]
        last = LAST_NAMES[(key * 7) % len(LAST_NAMES)]
        home = organizations[key % len(organizations)]
        suffix = "" if key < len(FIRST_NAMES) else str(key // len(FIRST_NAMES))
        email = f"{first}.{last}{suffix}@{home.domain}".lower()
        persons.append(
            SeedPerson(
                key=key,
                first_name=first,
                last_name=last,
                email=email,
                email_verified=key % 9 != 4,
                active=key % 17 != 3,
            )
        )
        orgs = [home]
        if key % 5 == 0:
            orgs.append(organizations[(key + 2) % len(organizations)])
        if key % 11 == 0:
            orgs.append(organizations[(key + 3) % len(organizations)])
        seats = [
            SeedMembership(org.key, key, _status(rng), _roles(rng, key, org is home))
            for org in orgs
        ]
        memberships.extend(_joined_nowhere_if_invited(seats))
    return Dataset(organizations, persons, memberships, roles)


def _joined_nowhere_if_invited(seats: list[SeedMembership]) -> list[SeedMembership]:
    """One person's seats, where someone with a pending invitation has joined nowhere yet.

    ZITADEL can only say "invited" of the whole user (state INITIAL), so the demo people are
    ones every provider can hold: invited everywhere they are not inactive, or not at all.
    """
    if not any(seat.status == "pending" for seat in seats):
        return seats
    return [replace(s, status="pending") if s.status == "active" else s for s in seats]


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.2:
        return "inactive"
    if roll < 0.3:
        return "pending"
    return "active"


def _roles(rng: random.Random, key: int, home: bool) -> tuple[str, ...]:
    if home and key % 6 == 0:
        return ("org-admin",)
    if rng.random() < 0.15:
        return ("member", "org-billing")
    return ("member",) if rng.random() < 0.8 else ("org-viewer",)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic collector while hundreds of thousands of documents are built and stored.

    None of them form cycles, and full collections over them would dominate a large load.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


SECTORS = ["Logistics", "Health", "Finance", "Research", "Manufacturing", "Retail", "Energy"]


def generated_dataset(organizations: int, users: int, memberships: int, seed: int = 7) -> Dataset:
    """A deterministic dataset of the given sizes, for load tests and `run_emulator`.

    Every user gets 1..k memberships in distinct organizations (when memberships >= users;
    otherwise the first `memberships` users get one each); organization sizes are skewed.
    """
    if min(organizations, users, memberships) < 0:
        raise ValueError("sizes must not be negative")
    if memberships > users * organizations:
        raise ValueError(
            f"{memberships} memberships do not fit {users} users in {organizations} organizations"
        )
    rng = random.Random(seed)
    orgs = [
        SeedOrganization(
            key=i,
            name=f"{ORGANIZATIONS[i % 6][0].split()[0]} {SECTORS[i // 6 % 7]} {i + 1}",
            domain=f"{ORGANIZATIONS[i % 6][0].split()[0].lower()}-{i + 1}.example",
            active=i % 31 != 30,
        )
        for i in range(organizations)
    ]
    roles = [SeedRole(None, slug, name) for slug, name in ENVIRONMENT_ROLES]
    roles.extend(SeedRole(org.key, slug, name) for org in orgs for slug, name in ORGANIZATION_ROLES)
    counts = _membership_counts(rng, users, organizations, memberships)
    people: list[SeedPerson] = []
    seats: list[SeedMembership] = []
    for key, count in enumerate(counts):
        first = FIRST_NAMES[key % len(FIRST_NAMES)]
        last = LAST_NAMES[key // len(FIRST_NAMES) % len(LAST_NAMES)]
        # Squaring a uniform draw skews homes toward low keys: a few large organizations.
        home = int(organizations * rng.random() ** 2) if organizations else 0
        offsets = [0, *rng.sample(range(1, organizations), count - 1)] if count else []
        domain = orgs[home].domain if orgs else "example.com"
        people.append(
            SeedPerson(
                key=key,
                first_name=first,
                last_name=last,
                email=f"{first}.{last}.{key}@{domain}".lower(),
                email_verified=key % 11 != 4,
                active=key % 23 != 3,
            )
        )
        mine = [
            SeedMembership(
                (home + offset) % organizations, key, _status(rng), _roles(rng, key, index == 0)
            )
            for index, offset in enumerate(offsets)
        ]
        seats.extend(_joined_nowhere_if_invited(mine))
    return Dataset(orgs, people, seats, roles)


def _membership_counts(
    rng: random.Random, users: int, organizations: int, memberships: int
) -> list[int]:
    """How many memberships each user gets: at least one each, the rest spread at random."""
    if memberships < users:
        return [1] * memberships + [0] * (users - memberships)
    counts = [1] * users
    left = memberships - users
    cap = min(organizations, max(4, 2 * -(-memberships // max(users, 1))))
    for _ in range(2 * left):
        if not left:
            break
        key = rng.randrange(users)
        if counts[key] < cap:
            counts[key] += 1
            left -= 1
    # A dense request (close to users x organizations) is filled up in key order.
    for key in range(users):
        if not left:
            break
        extra = min(left, organizations - counts[key])
        counts[key] += extra
        left -= extra
    return counts
