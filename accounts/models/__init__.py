"""Models, re-exported from their modules."""

from __future__ import annotations

from accounts.models.approvals import ReactivationRequest, RequestStatus, TargetType
from accounts.models.audit import (
    AuditCheckpoint,
    AuditEvent,
    AuditTreeNode,
    Channel,
    Outcome,
)
from accounts.models.feeds import AppliedEvent, FeedState, WebhookDelivery
from accounts.models.filters import SavedFilter
from accounts.models.mirror import (
    MembershipRole,
    MirrorStatus,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    ProviderUser,
    SyncRun,
)
from accounts.models.scopes import StaffScope
from accounts.models.staff import RecoveryCode, RecoveryCodeDevice
from accounts.models.timed import AccessState, TimedAccess
from accounts.models.tokens import ApiToken, IdempotencyRecord

__all__ = [
    "AccessState",
    "AppliedEvent",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditTreeNode",
    "Channel",
    "FeedState",
    "IdempotencyRecord",
    "MembershipRole",
    "MirrorStatus",
    "Organization",
    "OrganizationMembership",
    "OrganizationRole",
    "Outcome",
    "ProviderUser",
    "ReactivationRequest",
    "RecoveryCode",
    "RecoveryCodeDevice",
    "RequestStatus",
    "SavedFilter",
    "StaffScope",
    "SyncRun",
    "TargetType",
    "TimedAccess",
    "WebhookDelivery",
]
