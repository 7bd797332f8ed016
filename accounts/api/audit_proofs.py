"""Merkle proofs and signed checkpoints of the audit log, for auditors' own verification.

Hashes are lowercase hex; a checkpoint is its signed-note text, verifiable with the public
key (`publicKey`, also at /audit/public-key). Proofs are RFC 9162 audit and consistency paths.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema
from pydantic import Field

from accounts import audit_tree
from accounts.api.auth import require
from accounts.api.schemas import ApiSchema
from accounts.audit import canonical
from accounts.checkpoints import public_key
from accounts.errors import ErrorCode, FieldError, KarmoError
from accounts.merkle import leaf_hash
from accounts.models import AuditCheckpoint, AuditEvent
from accounts.permissions import VIEW_AUDIT
from accounts.scopes import scoped

router = Router(tags=["Audit proofs"], by_alias=True)
LARGEST = 2**62


class CheckpointOut(ApiSchema):
    """A signed checkpoint: the log's size and Merkle root, signed by the log's key."""

    tree_size: int
    root_hash: str = Field(description="The Merkle root, hex.")
    note: str = Field(
        description="The C2SP signed-note text, with the witness's signature when it verified."
    )
    created_at: datetime
    witnessed: bool = Field(
        description="Whether the witness co-signed it with a signature that verified against "
        "its configured key."
    )
    witness_status: str
    public_key: str = Field(description="The verifier key: <name>+<key id>+<base64 key>.")

    @classmethod
    def of(cls, checkpoint: AuditCheckpoint) -> CheckpointOut:
        """From the stored copy."""
        key = public_key()
        return cls(
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root,
            note=checkpoint.note,
            created_at=checkpoint.created_at,
            witnessed=checkpoint.witnessed,
            witness_status=checkpoint.witness_status,
            public_key=str(key) if key else "",
        )


class InclusionProofOut(ApiSchema):
    """The audit path from one event's leaf to the root of a tree size."""

    sequence: int
    leaf_index: int = Field(description="sequence - 1: the leaf's 0-based index.")
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 || the event's canonical JSON), hex.")
    root_hash: str
    proof: list[str] = Field(description="Sibling hashes, leaf to root (RFC 9162 2.1.3).")
    checkpoint: CheckpointOut | None = Field(
        None, description="The signed checkpoint of this tree size, when there is one."
    )


class ConsistencyProofOut(ApiSchema):
    """The proof that the log at `fromSize` is a prefix of the log at `toSize`."""

    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str] = Field(description="RFC 9162 2.1.4 consistency proof, hex.")


class ProofQuery(Schema):
    """Which tree the proof is for."""

    tree_size: int | None = Field(
        None,
        alias="treeSize",
        ge=1,
        le=LARGEST,
        description="Defaults to the latest checkpoint's size when it covers the event, "
        "else to the log's size.",
    )


class ConsistencyQuery(Schema):
    """Two tree sizes, the smaller first."""

    from_size: int = Field(alias="from", ge=1, le=LARGEST)
    to_size: int = Field(alias="to", ge=1, le=LARGEST)


def _bad_size(code: ErrorCode, pointer: str, detail: str) -> KarmoError:
    return KarmoError(code, errors=[FieldError(detail=detail, pointer=pointer)])


def _checkpoint_of(size: int) -> CheckpointOut | None:
    found = AuditCheckpoint.objects.filter(tree_size=size).first()
    return CheckpointOut.of(found) if found else None


@router.get(
    "/audit-events/{sequence}/proof",
    response=InclusionProofOut,
    operation_id="getAuditEventProof",
    summary="Prove an audit event is in the log",
)
def event_proof(
    request: HttpRequest,
    params: Query[ProofQuery],
    sequence: int = Path(..., ge=1, le=LARGEST),
) -> InclusionProofOut:
    """The event's inclusion proof in the tree of `treeSize` events."""
    require(request, VIEW_AUDIT)
    # An event outside the actor's scope answers like a missing one; the log-wide answers
    # (checkpoints, consistency) reveal sizes and hashes only, so any auditor may have them.
    event = scoped(request.auth.user, AuditEvent.objects.filter(sequence=sequence)).first()
    if event is None:
        raise KarmoError(ErrorCode.AUDIT_EVENT_NOT_FOUND)
    size = audit_tree.tree_size()
    tree_size = params.tree_size
    if tree_size is None:
        latest = AuditCheckpoint.objects.values_list("tree_size", flat=True).first()
        tree_size = latest if latest and sequence <= latest <= size else size
    if tree_size > size:
        raise _bad_size(ErrorCode.TREE_SIZE_NOT_FOUND, "/treeSize", f"the log holds {size}")
    if tree_size < sequence:
        raise _bad_size(ErrorCode.TREE_SIZE_TOO_SMALL, "/treeSize", f"must be at least {sequence}")
    path, root = audit_tree.inclusion_proof_and_root(sequence - 1, tree_size)
    return InclusionProofOut(
        sequence=sequence,
        leaf_index=sequence - 1,
        tree_size=tree_size,
        leaf_hash=leaf_hash(canonical(event).encode()).hex(),
        root_hash=root.hex(),
        proof=[digest.hex() for digest in path],
        checkpoint=_checkpoint_of(tree_size),
    )


@router.get(
    "/audit/consistency",
    response=ConsistencyProofOut,
    operation_id="getAuditConsistencyProof",
    summary="Prove an older log is a prefix of a newer one",
)
def consistency(request: HttpRequest, params: Query[ConsistencyQuery]) -> ConsistencyProofOut:
    """The consistency proof between tree sizes `from` and `to`."""
    require(request, VIEW_AUDIT)
    size = audit_tree.tree_size()
    if params.to_size > size:
        raise _bad_size(ErrorCode.TREE_SIZE_NOT_FOUND, "/to", f"the log holds {size}")
    if params.from_size > params.to_size:
        raise _bad_size(ErrorCode.TREE_SIZE_TOO_SMALL, "/from", "must be at most 'to'")
    proof, from_root, to_root = audit_tree.consistency_proof_and_roots(
        params.from_size, params.to_size
    )
    return ConsistencyProofOut(
        from_size=params.from_size,
        to_size=params.to_size,
        from_root=from_root.hex(),
        to_root=to_root.hex(),
        proof=[p.hex() for p in proof],
    )


@router.get(
    "/audit/checkpoints/latest",
    response=CheckpointOut,
    operation_id="getLatestAuditCheckpoint",
    summary="The latest signed checkpoint",
)
def latest_checkpoint(request: HttpRequest) -> CheckpointOut:
    """The newest checkpoint the app signed (verify it with `publicKey`)."""
    require(request, VIEW_AUDIT)
    found = AuditCheckpoint.objects.first()
    if found is None:
        raise KarmoError(ErrorCode.NO_CHECKPOINT)
    return CheckpointOut.of(found)
