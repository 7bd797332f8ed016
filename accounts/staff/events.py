"""Audit events for staff sign-in and for changes to staff accounts, groups and permissions.

Django's and django-axes' signals feed them, so every path (console, admin, shell, commands)
is covered: the admin's own log (django_admin_log) is mutable and outside the hash chain.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.http import HttpRequest

from accounts.audit import record_event
from accounts.errors import ErrorCode
from accounts.models import Outcome
from accounts.staff import policy

# Who is acting in this request, for changes that signals report without a request.
_acting: contextvars.ContextVar[Any] = contextvars.ContextVar("karmo_acting_staff", default=None)

_TRACKED = ("username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Name the signed-in user as the actor of account changes made in this block."""
    token = _acting.set(user if user is not None and user.is_authenticated else None)
    try:
        yield
    finally:
        _acting.reset(token)


def record_staff_event(
    event_type: str, outcome: str, *, actor: Any = None, target: Any = None, **kwargs: Any
) -> None:
    """Record one staff.* event; the actor defaults to whoever acts in this request."""
    record_event(
        event_type=event_type,
        outcome=outcome,
        actor=actor if actor is not None else _acting.get(),
        target=target,
        **kwargs,
    )


def _signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        policy.start_session(request, user)
    record_staff_event("staff.signed_in", Outcome.SUCCEEDED, actor=user, target=user)


def _signed_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None and not getattr(request, "karmo_session_expired", False):
        record_staff_event("staff.signed_out", Outcome.SUCCEEDED, actor=user, target=user)


def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    locked = bool(getattr(request, "axes_locked_out", False))
    record_staff_event(
        "staff.sign_in_failed",
        Outcome.DENIED,
        error_code=ErrorCode.SIGN_IN_LOCKED.code if locked else ErrorCode.SIGN_IN_FAILED.code,
        data={
            "username": str(credentials.get("username", ""))[:150],
            "failures": getattr(request, "axes_failures_since_start", None),
            "locked": locked,
        },
    )


def _locked_out(
    sender: Any, request: HttpRequest, username: str | None, ip_address: str, **kwargs: Any
) -> None:
    # django-axes repeats the signal for every attempt while locked; the lock begins once.
    if getattr(request, "axes_failures_since_start", 0) != settings.AXES_FAILURE_LIMIT:
        return
    record_staff_event(
        "staff.locked_out",
        Outcome.DENIED,
        error_code=ErrorCode.SIGN_IN_LOCKED.code,
        data={
            "username": (username or "")[:150],
            "ip_address": ip_address,
            "minutes": settings.KARMO_LOCKOUT_MINUTES,
        },
    )


def _lockout_cleared(sender: Any, instance: AccessAttempt, **kwargs: Any) -> None:
    if instance.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return
    record_staff_event(
        "staff.lockout_cleared",
        Outcome.SUCCEEDED,
        data={"username": instance.username or "", "ip_address": instance.ip_address},
    )


def _user_state(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in _TRACKED}


def _only_last_login(update_fields: Any) -> bool:
    """Django's own save at each sign-in, which the staff.signed_in event already covers."""
    return update_fields is not None and set(update_fields) <= {"last_login"}


def _remember_user(sender: Any, instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None or _only_last_login(update_fields):
        return
    old = User.objects.filter(pk=instance.pk).values(*_TRACKED, "password").first()
    instance._karmo_before = old  # type: ignore[attr-defined]


def _user_saved(
    sender: Any, instance: User, created: bool, update_fields: Any = None, **kwargs: Any
) -> None:
    if _only_last_login(update_fields):
        return
    after = _user_state(instance)
    if created:
        record_staff_event("staff.user_created", Outcome.SUCCEEDED, target=instance, after=after)
        return
    old = getattr(instance, "_karmo_before", None) or {}
    before = {name: old.get(name) for name in _TRACKED}
    changed = sorted(name for name in _TRACKED if before[name] != after[name])
    if old.get("password") != instance.password:
        changed.append("password")
    if not changed:
        return
    deactivated = before["is_active"] and not after["is_active"]
    record_staff_event(
        "staff.user_deactivated" if deactivated else "staff.user_changed",
        Outcome.SUCCEEDED,
        target=instance,
        before=before,
        after=after,
        data={"fields": changed},
    )


def _user_deleted(sender: Any, instance: User, **kwargs: Any) -> None:
    record_staff_event(
        "staff.user_deleted", Outcome.SUCCEEDED, target=instance, before=_user_state(instance)
    )


def _names(model: Any, pks: Any) -> list[str]:
    if model is Group:
        return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
    rows = model.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename")
    return sorted(f"{app}.{codename}" for app, codename in rows)


def _m2m_event(event_type: str) -> Any:
    """A receiver that records additions to and removals from one many-to-many field."""

    def receiver(
        sender: Any, instance: Any, action: str, model: Any, pk_set: Any, **kwargs: Any
    ) -> None:
        if action == "pre_clear":
            instance._karmo_cleared = list(  # type: ignore[attr-defined]
                getattr(instance, _FIELD[event_type]).values_list("pk", flat=True)
            )
            return
        if action == "post_clear":
            pk_set = getattr(instance, "_karmo_cleared", [])
        elif action not in ("post_add", "post_remove") or not pk_set:
            return
        if not pk_set:
            return
        key = "added" if action == "post_add" else "removed"
        record_staff_event(
            event_type, Outcome.SUCCEEDED, target=instance, data={key: _names(model, pk_set)}
        )

    return receiver


_FIELD = {
    "staff.groups_changed": "groups",
    "staff.permissions_changed": "user_permissions",
    "staff.group_permissions_changed": "permissions",
}


def _group_saved(sender: Any, instance: Group, created: bool, **kwargs: Any) -> None:
    record_staff_event(
        "staff.group_created" if created else "staff.group_changed",
        Outcome.SUCCEEDED,
        target=instance,
        after={"name": instance.name},
    )


def _group_deleted(sender: Any, instance: Group, **kwargs: Any) -> None:
    record_staff_event(
        "staff.group_deleted", Outcome.SUCCEEDED, target=instance, before={"name": instance.name}
    )


_RECEIVERS = {
    "groups": _m2m_event("staff.groups_changed"),
    "perms": _m2m_event("staff.permissions_changed"),
    "group_perms": _m2m_event("staff.group_permissions_changed"),
}


def connect() -> None:
    """Connect the receivers (from AppConfig.ready)."""
    uid = "karmo-staff-events"
    user_logged_in.connect(_signed_in, dispatch_uid=f"{uid}-in")
    user_logged_out.connect(_signed_out, dispatch_uid=f"{uid}-out")
    user_login_failed.connect(_sign_in_failed, dispatch_uid=f"{uid}-failed")
    user_locked_out.connect(_locked_out, dispatch_uid=f"{uid}-locked")
    post_delete.connect(_lockout_cleared, sender=AccessAttempt, dispatch_uid=f"{uid}-unlock")
    pre_save.connect(_remember_user, sender=User, dispatch_uid=f"{uid}-user-pre")
    post_save.connect(_user_saved, sender=User, dispatch_uid=f"{uid}-user")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid=f"{uid}-user-del")
    post_save.connect(_group_saved, sender=Group, dispatch_uid=f"{uid}-group")
    post_delete.connect(_group_deleted, sender=Group, dispatch_uid=f"{uid}-group-del")
    m2m_changed.connect(
        _RECEIVERS["groups"], sender=User.groups.through, dispatch_uid=f"{uid}-groups"
    )
    m2m_changed.connect(
        _RECEIVERS["perms"], sender=User.user_permissions.through, dispatch_uid=f"{uid}-perms"
    )
    m2m_changed.connect(
        _RECEIVERS["group_perms"], sender=Group.permissions.through, dispatch_uid=f"{uid}-gperms"
    )
