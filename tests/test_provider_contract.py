"""One behavioural contract for every provider adapter, run against its emulator over loopback."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from providers.base import Capability, Membership, Provider, Status, has_feed
from providers.emulators.seed import demo_dataset
from providers.errors import (
    ProviderAuthError,
    ProviderConflict,
    ProviderError,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUnreadable,
    ProviderUnsupported,
)
from tests.fixtures.flavors import FAST_RETRY, FLAVORS, TEST_TIMEOUT

pytestmark = pytest.mark.django_db
ATTEMPTS = FAST_RETRY.max_retries + 1
CLEAR_ERRORS = {
    ProviderAuthError,
    ProviderConflict,
    ProviderNotFound,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
}


@pytest.fixture(params=FLAVORS)
def flavor(request) -> str:
    return request.param


@pytest.fixture
def provider(flavor, request) -> Provider:
    return request.getfixturevalue(f"{flavor}_provider")


@pytest.fixture
def emulator(flavor, request, provider):
    return request.getfixturevalue(f"{flavor}_emulator").app


def requests_during(emulator, call: Callable[[], Any]) -> tuple[Any, int]:
    """Run `call` and return its result and how many requests reached the emulator."""
    before = emulator.request_count
    return call(), emulator.request_count - before


def first(provider: Provider, status: Status) -> Membership:
    return next(m for m in provider.list_memberships() if m.status == status)


def unknown(real_id: str) -> str:
    """An id shaped like a real one that the provider does not hold."""
    tail = "0000" if real_id[-4:] != "0000" else "1111"
    return real_id[:-4] + tail


def needs(provider: Provider, capability: Capability) -> None:
    if capability not in provider.capabilities:
        pytest.skip(f"{provider.name}: {provider.unsupported_reasons[capability]}")


# Listing ----------------------------------------------------------------------------------


def test_lists_everything_across_pages(provider, emulator):
    dataset = demo_dataset(people=1200)
    emulator.reset(dataset)

    users, user_requests = requests_during(emulator, lambda: list(provider.list_users()))
    organizations = list(provider.list_organizations())
    memberships = list(provider.list_memberships())

    assert user_requests >= 2
    assert len(organizations) == len(dataset.organizations)
    assert {u.email for u in users} == {p.email for p in dataset.people}
    assert len(memberships) == len({m.id for m in memberships}) == len(dataset.memberships)
    assert Counter(m.status.value for m in memberships) == Counter(
        m.status for m in dataset.memberships
    )
    assert {m.user_id for m in memberships} <= {u.id for u in users}
    assert {m.organization_id for m in memberships} <= {o.id for o in organizations}


def test_lists_roles_of_every_organization(provider):
    needs(provider, Capability.LIST_ROLES)
    organizations = {o.id for o in provider.list_organizations()}
    roles = list(provider.list_roles())
    org_admins = {r.organization_id for r in roles if r.slug == "org-admin"}
    assert org_admins == organizations or org_admins == {""}


def test_gets_one_of_each_by_id(provider):
    membership = next(iter(provider.list_memberships()))
    assert provider.get_membership(membership.id) == membership
    assert provider.get_user(membership.user_id).id == membership.user_id
    assert provider.get_organization(membership.organization_id).id == membership.organization_id


@pytest.mark.parametrize("getter", ["get_membership", "get_user", "get_organization"])
def test_unknown_ids_are_not_found(provider, getter):
    membership = next(iter(provider.list_memberships()))
    real = {
        "get_membership": membership.id,
        "get_user": membership.user_id,
        "get_organization": membership.organization_id,
    }[getter]
    with pytest.raises(ProviderNotFound) as caught:
        getattr(provider, getter)(unknown(real))
    assert caught.value.status_code == 404


# Membership state --------------------------------------------------------------------------


def test_reactivating_an_inactive_membership_keeps_its_roles(provider):
    needs(provider, Capability.REACTIVATE_MEMBERSHIP)
    inactive = first(provider, Status.INACTIVE)

    result = provider.reactivate_membership(inactive)

    assert result.changed
    assert result.request_id
    assert result.value.status == Status.ACTIVE
    listed = next(m for m in provider.list_memberships() if m.id == inactive.id)
    assert listed.status == Status.ACTIVE
    assert listed.roles == inactive.roles


def test_reactivating_an_active_membership_is_a_no_op_or_a_conflict(provider):
    needs(provider, Capability.REACTIVATE_MEMBERSHIP)
    active = first(provider, Status.ACTIVE)
    conflict: ProviderConflict | None = None
    try:
        result = provider.reactivate_membership(active)
    except ProviderConflict as exc:
        conflict = exc
    if conflict is not None:
        assert conflict.code
    else:
        assert result.changed is False
        assert result.value.status == Status.ACTIVE
    assert provider.get_membership(active.id).status == Status.ACTIVE


def test_deactivating_then_reactivating_round_trips(provider):
    needs(provider, Capability.DEACTIVATE_MEMBERSHIP)
    active = first(provider, Status.ACTIVE)

    deactivated = provider.deactivate_membership(active)
    assert deactivated.value.status == Status.INACTIVE
    assert provider.get_membership(active.id).status == Status.INACTIVE
    reactivated = provider.reactivate_membership(deactivated.value)
    assert reactivated.value.status == Status.ACTIVE


def test_reactivating_a_pending_membership_fails_its_precondition(provider):
    needs(provider, Capability.REACTIVATE_MEMBERSHIP)
    pending = first(provider, Status.PENDING)
    with pytest.raises((ProviderConflict, ProviderRejected)) as caught:
        provider.reactivate_membership(pending)
    assert caught.value.code
    assert caught.value.request_id
    assert provider.get_membership(pending.id).status == Status.PENDING


def test_reactivating_an_unknown_membership_is_not_found(provider):
    needs(provider, Capability.REACTIVATE_MEMBERSHIP)
    inactive = first(provider, Status.INACTIVE)
    with pytest.raises(ProviderNotFound):
        provider.reactivate_membership(replace(inactive, id=unknown(inactive.id)))


# Roles -------------------------------------------------------------------------------------


def test_upserting_an_organization_role_creates_then_updates_it(provider):
    needs(provider, Capability.UPSERT_ORGANIZATION_ROLE)
    organization = next(iter(provider.list_organizations()))

    created = provider.upsert_organization_role(organization.id, "org-support", "Support")
    updated = provider.upsert_organization_role(
        organization.id, "org-support", "Support desk", "Answers tickets"
    )

    assert created.changed
    assert created.value.id
    assert updated.value.id == created.value.id
    assert (updated.value.name, updated.value.description) == ("Support desk", "Answers tickets")
    listed = [r for r in provider.list_roles() if r.slug == "org-support"]
    assert [(r.name, r.organization_id) for r in listed] == [("Support desk", organization.id)]


def test_setting_membership_roles_replaces_them(provider):
    needs(provider, Capability.SET_MEMBERSHIP_ROLES)
    active = first(provider, Status.ACTIVE)

    result = provider.set_membership_roles(active, ("org-billing", "org-viewer"))

    assert set(result.value.roles) == {"org-billing", "org-viewer"}
    assert set(provider.get_membership(active.id).roles) == {"org-billing", "org-viewer"}


def test_unsupported_operations_say_why(provider):
    membership = next(iter(provider.list_memberships()))
    calls: dict[Capability, Callable[[], Any]] = {
        Capability.REACTIVATE_MEMBERSHIP: lambda: provider.reactivate_membership(membership),
        Capability.DEACTIVATE_MEMBERSHIP: lambda: provider.deactivate_membership(membership),
        Capability.ACTIVATE_USER: lambda: provider.activate_user(membership.user_id),
        Capability.DEACTIVATE_USER: lambda: provider.deactivate_user(membership.user_id),
        Capability.REACTIVATE_ORGANIZATION: lambda: provider.reactivate_organization(
            membership.organization_id
        ),
        Capability.DEACTIVATE_ORGANIZATION: lambda: provider.deactivate_organization(
            membership.organization_id
        ),
        Capability.SET_MEMBERSHIP_ROLES: lambda: provider.set_membership_roles(membership, ()),
        Capability.UPSERT_ORGANIZATION_ROLE: lambda: provider.upsert_organization_role(
            membership.organization_id, "org-x", "X"
        ),
        Capability.CREATE_USER: lambda: provider.create_user("nobody@contract.example"),
    }
    missing = set(Capability) - provider.capabilities
    assert set(provider.unsupported_reasons) == missing
    for capability in missing:
        assert provider.unsupported_reasons[capability]
        if capability in calls:
            with pytest.raises(ProviderUnsupported):
                calls[capability]()


# Faults ------------------------------------------------------------------------------------


def test_rate_limit_is_retried_after_the_retry_after_wait(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"rate_limit": {"limit": 1, "window": 0.25, "retry_after": "1"}})
    provider.get_organization(organization.id)

    started = time.monotonic()
    fetched, sent = requests_during(emulator, lambda: provider.get_organization(organization.id))

    assert fetched.id == organization.id
    assert sent >= 2
    assert time.monotonic() - started >= FAST_RETRY.retry_after_cap


def test_persistent_rate_limit_is_surfaced_with_retry_after(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"rate_limit": {"limit": 1, "window": 60, "retry_after": "30"}})
    provider.get_organization(organization.id)

    with pytest.raises(ProviderRateLimited) as caught:
        provider.get_organization(organization.id)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == FAST_RETRY.retry_after_cap
    assert caught.value.request_id


def test_server_error_is_retried_then_succeeds(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"fail": [503]})
    fetched, sent = requests_during(emulator, lambda: provider.get_organization(organization.id))
    assert fetched.id == organization.id
    assert sent == 2


def test_persistent_server_error_is_surfaced_as_unavailable(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"fail": [503] * ATTEMPTS})
    before = emulator.request_count
    with pytest.raises(ProviderUnavailable) as caught:
        provider.get_organization(organization.id)
    assert caught.value.status_code == 503
    assert caught.value.request_id
    assert emulator.request_count - before == ATTEMPTS


def test_timeout_is_retried_then_surfaced_as_unavailable(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"delay": TEST_TIMEOUT + 0.5, "delay_count": ATTEMPTS})
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="timed out"):
        provider.get_organization(organization.id)
    assert time.monotonic() - started >= ATTEMPTS * TEST_TIMEOUT


def test_one_slow_answer_is_retried(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"delay": TEST_TIMEOUT + 0.5, "delay_count": 1})
    assert provider.get_organization(organization.id).id == organization.id


def test_dropped_connection_is_retried_then_surfaced(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"drop": 1})
    fetched, sent = requests_during(emulator, lambda: provider.get_organization(organization.id))
    assert fetched.id == organization.id
    assert sent == 2
    emulator.faults.configure({"drop": ATTEMPTS})
    with pytest.raises(ProviderUnavailable):
        provider.get_organization(organization.id)


def test_malformed_json_is_unreadable(provider, emulator):
    organization = next(iter(provider.list_organizations()))
    emulator.faults.configure({"bad_json": 1})
    with pytest.raises(ProviderUnreadable, match="not JSON"):
        provider.get_organization(organization.id)


def test_a_list_page_that_is_not_an_object_is_unreadable(provider, emulator):
    emulator.faults.configure({"not_object": 1})
    with pytest.raises(ProviderUnreadable, match=f"^{provider.name} sent an unreadable"):
        list(provider.list_organizations())


def every_call(provider: Provider) -> dict[str, Callable[[], Any]]:
    """Each read and change of the adapter, on records of the demo data (read beforehand)."""
    active, inactive = first(provider, Status.ACTIVE), first(provider, Status.INACTIVE)
    organization = active.organization_id
    calls: dict[str, Callable[[], Any]] = {
        "list_organizations": lambda: list(provider.list_organizations()),
        "list_users": lambda: list(provider.list_users()),
        "list_memberships": lambda: list(provider.list_memberships()),
        "list_roles": lambda: list(provider.list_roles()),
        "get_organization": lambda: provider.get_organization(organization),
        "get_user": lambda: provider.get_user(active.user_id),
        "get_membership": lambda: provider.get_membership(active.id),
        "reactivate_membership": lambda: provider.reactivate_membership(inactive),
        "deactivate_membership": lambda: provider.deactivate_membership(active),
        "set_membership_roles": lambda: provider.set_membership_roles(active, ("org-viewer",)),
        "upsert_organization_role": lambda: provider.upsert_organization_role(
            organization, "org-support", "Support"
        ),
        "create_user": lambda: provider.create_user("odd.answer@contract.example", "Odd"),
        "activate_user": lambda: provider.activate_user(inactive.user_id),
        "deactivate_user": lambda: provider.deactivate_user(active.user_id),
        "reactivate_organization": lambda: provider.reactivate_organization(organization),
        "deactivate_organization": lambda: provider.deactivate_organization(organization),
    }
    if has_feed(provider):
        calls["latest_change_cursor"] = provider.latest_change_cursor  # type: ignore[attr-defined]
        calls["read_changes"] = lambda: provider.read_changes(None)  # type: ignore[attr-defined]
    return {
        name: call
        for name, call in calls.items()
        if name not in Capability.__members__.values() or Capability(name) in provider.capabilities
    }


CALLS = [
    *(c.value for c in Capability),
    *("get_organization", "get_user", "get_membership", "latest_change_cursor", "read_changes"),
]
# What a call needs done first, so that the provider would say yes to it.
UNDONE_BY = {
    "activate_user": "deactivate_user",
    "reactivate_organization": "deactivate_organization",
}


@pytest.mark.parametrize("answered", range(4))
@pytest.mark.parametrize("name", CALLS)
def test_an_answer_of_another_shape_in_any_call_is_unreadable(provider, emulator, name, answered):
    """Whichever of a call's requests is answered with 200 and `[]`, the call either does not
    need that answer or says the provider's answer is unreadable: never a KeyError."""
    calls = every_call(provider)
    if name not in calls:
        pytest.skip(f"{provider.name} has no {name}")
    if name in UNDONE_BY:
        calls[UNDONE_BY[name]]()
    emulator.faults.configure({"not_object": 1, "not_object_after": answered})

    error = error_of(calls[name])

    if emulator.faults.not_object:
        pytest.skip(f"{name} sends {answered} requests or fewer")
    assert error is None or isinstance(error, ProviderUnreadable), error
    if answered == 0 and name.startswith(("list_", "get_")):
        assert isinstance(error, ProviderUnreadable)


@pytest.mark.parametrize("fault", [{"fail": [503]}, {"drop": 1}])
def test_create_is_not_repeated_after_it_may_have_been_sent(provider, emulator, fault):
    needs(provider, Capability.CREATE_USER)
    emulator.faults.configure(fault)
    before = emulator.request_count
    with pytest.raises(ProviderUnavailable):
        provider.create_user("once.only@contract.example", "Once", "Only")
    assert emulator.request_count - before == 1


def test_create_is_retried_after_a_rate_limit(provider, emulator):
    needs(provider, Capability.CREATE_USER)
    emulator.faults.configure({"fail": [429]})
    result, sent = requests_during(
        emulator, lambda: provider.create_user("retried@contract.example", "Re", "Tried")
    )
    assert result.value.email == "retried@contract.example"
    assert sent == 2


# A seeded storm of faults ------------------------------------------------------------------

FAULTS = ["none"] * 40 + ["429"] * 18 + ["503"] * 18 + ["drop"] * 18 + ["timeout"] * 2


def fault_spec(kind: str, times: int) -> dict[str, Any]:
    return {
        "none": {},
        "429": {"fail": [429] * times},
        "503": {"fail": [503] * times},
        "drop": {"drop": times},
        "timeout": {"delay": TEST_TIMEOUT + 0.2, "delay_count": 1},
    }[kind]


def perform(provider: Provider, name: str, membership: Membership, number: int) -> None:
    """One operation of the storm, on `membership` or its user or organization."""
    match name:
        case "get_organization":
            provider.get_organization(membership.organization_id)
        case "get_membership" | "reactivate_membership" | "deactivate_membership":
            getattr(provider, name)(membership.id if name == "get_membership" else membership)
        case "get_user":
            provider.get_user(membership.user_id)
        case "set_membership_roles":
            roles = ("org-viewer",) if number % 2 else ("org-billing", "org-viewer")
            provider.set_membership_roles(membership, roles)
        case "create_user":
            provider.create_user(f"storm{number}@faults.example")


def error_of(call: Callable[[], Any]) -> ProviderError | None:
    try:
        call()
    except ProviderError as exc:
        return exc
    return None


def test_random_faults_end_in_success_or_a_clear_error(provider, emulator, flavor):
    rng = random.Random(f"fault-storm-{flavor}")
    memberships = list(provider.list_memberships())
    operations = [
        ("get_organization", True, None),
        ("get_membership", True, None),
        ("get_user", True, None),
        ("reactivate_membership", True, Capability.REACTIVATE_MEMBERSHIP),
        ("deactivate_membership", True, Capability.DEACTIVATE_MEMBERSHIP),
        ("set_membership_roles", True, Capability.SET_MEMBERSHIP_ROLES),
        ("create_user", False, Capability.CREATE_USER),
    ]
    operations = [op for op in operations if op[2] is None or op[2] in provider.capabilities]
    outcomes: Counter[str] = Counter()
    for number in range(200):
        name, idempotent, _ = rng.choice(operations)
        kind, times = rng.choice(FAULTS), rng.randint(1, ATTEMPTS)
        membership = rng.choice(memberships)
        emulator.faults.reset()
        emulator.faults.configure(fault_spec(kind, times))
        before = emulator.request_count

        error = error_of(lambda: perform(provider, name, membership, number))  # noqa: B023

        sent = emulator.request_count - before
        outcomes[f"{kind}:{type(error).__name__ if error else 'ok'}"] += 1
        if error is not None:
            assert type(error) in CLEAR_ERRORS, error
            assert error.message
            exhausted = times == ATTEMPTS and kind in ("429", "503", "drop")
            assert exhausted or not name.startswith("get_"), (name, kind, times, error)
        if not idempotent and kind in ("503", "drop", "timeout"):
            assert sent == 1, (name, kind, sent)
    emulator.faults.reset()
    print(f"\n{flavor} fault storm, 200 operations: {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == 200
    assert outcomes["none:ok"] > 0
    assert any(key.endswith(":ok") and not key.startswith("none") for key in outcomes)
