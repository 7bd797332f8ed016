"""Provider users: list, get, create, activate."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from accounts import services
from accounts.api import lookups
from accounts.api.auth import require
from accounts.api.pagination import PageQuery, page_out, paginate, where_given
from accounts.api.preview import DryRun, PreviewOut, change_or_preview
from accounts.api.schemas import (
    ORG_ID_DOC,
    USER_ID_DOC,
    USER_ID_EXAMPLE,
    Lifecycle,
    UserIn,
    UserList,
    UserOut,
)
from accounts.models import ProviderUser
from accounts.scopes import scoped

router = Router(tags=["Users"], by_alias=True)

UserId = Annotated[str, Path(alias="userId", description=USER_ID_DOC, examples=[USER_ID_EXAMPLE])]


class UserFilters(Schema):
    """Filters of listUsers."""

    email: str | None = Field(None, max_length=254, description="Exact email, any case.")
    org_id: str | None = Field(None, alias="orgId", max_length=128, description=ORG_ID_DOC)
    status: Lifecycle | None = None


@router.get("/users", response=UserList, operation_id="listUsers", summary="List users")
def list_users(request: HttpRequest, page: PageQuery, filters: Query[UserFilters]) -> UserList:
    """List provider users by email."""
    require(request, "accounts.view_provideruser")
    users = where_given(
        scoped(request.auth.user, ProviderUser.objects.present()),
        email__iexact=filters.email,
        status=filters.status,
    )
    if filters.org_id:
        members = lookups.memberships(request.auth.user).filter(
            organization__external_id=filters.org_id
        )
        users = users.filter(pk__in=members.values("user_id"))
    found = paginate(users, kind="users", order=("email", "pk"), params=page)
    return page_out(UserList, found, UserOut.of)


@router.get("/users/{userId}", response=UserOut, operation_id="getUser", summary="Get a user")
def get_user(request: HttpRequest, user_id: UserId) -> UserOut:
    """One provider user."""
    require(request, "accounts.view_provideruser")
    return UserOut.of(lookups.get_user(request.auth.user, user_id))


@router.post("/users", response={201: UserOut}, operation_id="createUser", summary="Create a user")
def create_user(request: HttpRequest, body: UserIn) -> Status[UserOut]:
    """Create a user at the provider."""
    change = services.create_user(
        actor=request.auth.user,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    return Status(201, UserOut.of(change.target))


@router.post(
    "/users/{userId}/activate",
    response=UserOut | PreviewOut,
    operation_id="activateUser",
    summary="Activate a user",
)
def activate_user(
    request: HttpRequest, user_id: UserId, dry_run: DryRun = False
) -> UserOut | PreviewOut:
    """Activate an inactive user (managers; help desk must request it)."""
    return change_or_preview(
        request,
        dry_run,
        lambda preview: services.activate_user(
            actor=request.auth.user,
            user=lookups.get_user(request.auth.user, user_id),
            preview=preview,
        ),
        answer=lambda change: UserOut.of(change.target),
    )
