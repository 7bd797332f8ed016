"""Provider-neutral demo data; each emulator loads it in its own wire format."""

from __future__ import annotations

import random
from dataclasses import dataclass

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
        for org in orgs:
            memberships.append(
                SeedMembership(org.key, key, _status(rng), _roles(rng, key, org is home))
            )
    return Dataset(organizations, persons, memberships, roles)


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
