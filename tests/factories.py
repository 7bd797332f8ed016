"""factory-boy factories for the mirror, with realistic provider ids."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import (
    MembershipRole,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
)


class OrganizationFactory(DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    provider = "sandbox"
    external_id = factory.Sequence(lambda n: f"org_01HF{n:022d}")
    name = factory.Sequence(lambda n: f"Organization {n}")
    status = MirrorStatus.ACTIVE


class ProviderUserFactory(DjangoModelFactory[ProviderUser]):
    class Meta:
        model = ProviderUser

    provider = "sandbox"
    external_id = factory.Sequence(lambda n: f"user_01HF{n:022d}")
    email = factory.Sequence(lambda n: f"person{n}@customer.example")
    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    email_verified = True


class MembershipFactory(DjangoModelFactory[OrganizationMembership]):
    class Meta:
        model = OrganizationMembership

    class Params:
        inactive = factory.Trait(status=MirrorStatus.INACTIVE, raw_status="inactive")
        pending = factory.Trait(status=MirrorStatus.PENDING, raw_status="pending")

    provider = "sandbox"
    external_id = factory.Sequence(lambda n: f"om_01HF{n:022d}")
    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(ProviderUserFactory)
    status = MirrorStatus.ACTIVE
    raw_status = "active"


class MembershipRoleFactory(DjangoModelFactory[MembershipRole]):
    class Meta:
        model = MembershipRole

    membership = factory.SubFactory(MembershipFactory)
    organization = factory.SelfAttribute("membership.organization")
    slug = "member"


class OrganizationRoleFactory(DjangoModelFactory[OrganizationRole]):
    class Meta:
        model = OrganizationRole

    provider = "sandbox"
    external_id = factory.Sequence(lambda n: f"role_01HF{n:022d}")
    organization = factory.SubFactory(OrganizationFactory)
    slug = factory.Sequence(lambda n: f"org-role-{n}")
    name = factory.Sequence(lambda n: f"Role {n}")
