"""The provider interface: what every access provider adapter offers and returns."""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from providers.errors import ProviderUnreadable

logger = logging.getLogger("karmo.providers")


class Status(enum.StrEnum):
    """Normalised lifecycle status shared by every provider."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    PENDING = "pending"


class Capability(enum.StrEnum):
    """One operation a provider may or may not support."""

    LIST_ORGANIZATIONS = "list_organizations"
    LIST_USERS = "list_users"
    LIST_MEMBERSHIPS = "list_memberships"
    LIST_ROLES = "list_roles"
    REACTIVATE_MEMBERSHIP = "reactivate_membership"
    DEACTIVATE_MEMBERSHIP = "deactivate_membership"
    ACTIVATE_USER = "activate_user"
    DEACTIVATE_USER = "deactivate_user"
    REACTIVATE_ORGANIZATION = "reactivate_organization"
    DEACTIVATE_ORGANIZATION = "deactivate_organization"
    UPSERT_ORGANIZATION_ROLE = "upsert_organization_role"
    SET_MEMBERSHIP_ROLES = "set_membership_roles"
    CREATE_USER = "create_user"


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization (tenant) as the provider returns it."""

    id: str
    name: str
    status: Status = Status.ACTIVE
    raw_status: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A person as the provider returns them; not a staff login."""

    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    status: Status = Status.ACTIVE
    raw_status: str = ""
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's membership of one organization, with its role slugs."""

    id: str
    organization_id: str
    user_id: str
    status: Status
    raw_status: str = ""
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Role:
    """A role; `organization_id` is empty for environment-wide roles."""

    id: str
    slug: str
    name: str
    organization_id: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Result[T]:
    """The answer to a state-changing call, with the provider's request id."""

    value: T
    request_id: str = ""
    changed: bool = True


@dataclass(frozen=True, slots=True)
class Change:
    """One record's change from a provider's event feed or webhook.

    `kind` is the mirrored noun (organization, user, membership, role); `item` is the record
    as it is after the change, None when it was deleted.
    """

    event_id: str
    kind: str
    external_id: str
    item: Organization | User | Membership | Role | None
    occurred_at: str = ""


def well_formed(change: Change) -> bool:
    """Whether a change names its record by text and each field has its declared type (an
    event is JSON from outside: an id may arrive as a number or a list, an email as null)."""
    if not isinstance(change.external_id, str) or not change.external_id:
        return False
    item = change.item
    return item is None or all(
        _has_type(getattr(item, name), hint) for name, hint in _hints(type(item)).items()
    )


def has_feed(provider: Any) -> bool:
    """Whether the adapter offers a pull feed of changes (Stytch sends webhooks only)."""
    return callable(getattr(provider, "read_changes", None))


# What reading an answer of another shape than expected raises: a field missing or mistyped.
UNREADABLE = (LookupError, TypeError, ValueError, AttributeError)


def readable[**P, T](provider: str, convert: Callable[P, T]) -> Callable[P, T]:
    """`convert` (an object of the provider's answer into records), with a missing or
    mistyped field raised as ProviderUnreadable: an answer we cannot read is the provider's
    fault, and a sync must fail on it with that said, not with a KeyError."""

    @functools.wraps(convert)
    def read(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return convert(*args, **kwargs)
        except UNREADABLE as exc:
            raise ProviderUnreadable(f"{provider} sent an unreadable object: {exc!r}") from exc

    return read


def reads_answers_safely[A: type](adapter: A) -> A:
    """Class decorator: each public method of `adapter`, and each list it returns as it is
    iterated, raises ProviderUnreadable where reading an answer fails on its shape.

    The adapters' converters already say so for each record; this covers the rest (an
    envelope's key, an item looked up in a list), so a change records its failure instead of
    ending in a 500. Our own bug would look the same, so the original error is logged.
    """
    for name, method in list(vars(adapter).items()):
        if not name.startswith("_") and inspect.isfunction(method):
            setattr(adapter, name, _guarded(adapter.name, method))
    return adapter


def _guarded(provider: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except UNREADABLE as exc:
            raise _unreadable_answer(provider, exc) from exc
        return _guarded_items(provider, result) if isinstance(result, Iterator) else result

    return call


def _guarded_items[T](provider: str, items: Iterator[T]) -> Iterator[T]:
    try:
        yield from items
    except UNREADABLE as exc:
        raise _unreadable_answer(provider, exc) from exc


def _unreadable_answer(provider: str, error: Exception) -> ProviderUnreadable:
    logger.warning("%s answer not read", provider, exc_info=error)
    return ProviderUnreadable(f"{provider} sent an unreadable answer: {error!r}")


@functools.cache
def _hints(record: type) -> dict[str, Any]:
    return typing.get_type_hints(record)


def _has_type(value: Any, hint: Any) -> bool:
    if typing.get_origin(hint) is tuple:  # tuple[str, ...]
        return isinstance(value, tuple) and all(isinstance(part, str) for part in value)
    return isinstance(value, hint)


@dataclass(frozen=True, slots=True)
class ChangePage:
    """A page of the event feed: its changes, the cursor after them, and whether more wait.

    `unreadable` says which events of the page could not be read (one line each): they are
    passed over, or one malformed event would hold the cursor back forever.
    """

    changes: list[Change]
    cursor: str | None
    more: bool
    unreadable: list[str] = field(default_factory=list)


class Provider(Protocol):
    """One access provider. Adapters translate its wire format to these dataclasses."""

    name: ClassVar[str]
    capabilities: frozenset[Capability]
    unsupported_reasons: dict[Capability, str]

    def list_organizations(self) -> Iterator[Organization]: ...

    def list_users(self) -> Iterator[User]: ...

    def list_memberships(self) -> Iterator[Membership]: ...

    def list_roles(self) -> Iterator[Role]: ...

    def get_organization(self, organization_id: str) -> Organization: ...

    def get_user(self, user_id: str) -> User: ...

    def get_membership(self, membership_id: str) -> Membership: ...

    def reactivate_membership(self, membership: Membership) -> Result[Membership]: ...

    def deactivate_membership(self, membership: Membership) -> Result[Membership]: ...

    def activate_user(self, user_id: str) -> Result[User]: ...

    def deactivate_user(self, user_id: str) -> Result[User]: ...

    def reactivate_organization(self, organization_id: str) -> Result[Organization]: ...

    def deactivate_organization(self, organization_id: str) -> Result[Organization]: ...

    def upsert_organization_role(
        self, organization_id: str, slug: str, name: str, description: str = ""
    ) -> Result[Role]: ...

    def set_membership_roles(
        self, membership: Membership, roles: tuple[str, ...]
    ) -> Result[Membership]: ...

    def create_user(
        self, email: str, first_name: str = "", last_name: str = ""
    ) -> Result[User]: ...

    def close(self) -> None: ...
