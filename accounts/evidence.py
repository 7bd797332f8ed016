"""Evidence packs: chosen audit events with everything an auditor needs to check them offline.

One zip: the events as JSON Lines (each line exactly the event's canonical bytes, so its leaf
hash can be recomputed) and as CSV, an inclusion proof per event, the signed checkpoint whose
tree covers them, a README, and a manifest of every file's SHA-256 signed with the log's key.
`python -m karmo_verify PACK.zip --key <public key>` checks all of it without the app.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from django.db.models import QuerySet
from django.utils import timezone

from accounts import audit_tree
from accounts.audit import canonical
from accounts.checkpoints import CheckpointError, configured_signer, write_checkpoint
from accounts.errors import ErrorCode, KarmoError
from accounts.models import AuditCheckpoint, AuditEvent

MAX_EVENTS = 100_000
CHUNK = 1000
FORMAT = "karmo-audit-pack/1"
CSV_FIELDS = (
    "sequence",
    "occurred_at",
    "event_type",
    "outcome",
    "actor_repr",
    "via",
    "target_type",
    "target_id",
    "target_repr",
    "organization_external_id",
    "user_external_id",
    "reason",
    "error_code",
    "hash",
)
README = """Karmo Admin audit evidence pack ({format})

events.jsonl    one event per line, exactly its canonical JSON (the bytes its leaf hashes)
events.csv      the same events for reading (cells starting with = + - @ are prefixed with ')
proofs.jsonl    per event: leafIndex, treeSize and the RFC 9162 inclusion proof (hex)
checkpoint.txt  the signed checkpoint (C2SP tlog-checkpoint) of the tree the proofs lead to
manifest.txt    the SHA-256 of every file above, as a note signed with the log's key

Check it offline with the log's public key (the console's audit page shows it):

    pip install ./verify        # from the Karmo Admin source, or copy verify/karmo_verify.py
    python -m karmo_verify {name} --key '{key}'

Leaf = SHA-256(0x00 || line bytes); node = SHA-256(0x01 || left || right) (RFC 6962).
Each event's prev_hash also links it to the event before it in the log's hash chain.
"""


@dataclass(frozen=True)
class Pack:
    """What a written pack holds."""

    events: int
    tree_size: int
    file_name: str


def _covering_checkpoint(last_sequence: int) -> AuditCheckpoint:
    """The newest checkpoint if it covers the events, else one signed now."""
    latest = AuditCheckpoint.objects.first()
    if latest is not None and latest.tree_size >= last_sequence:
        return latest
    try:
        made = write_checkpoint()
    except CheckpointError as exc:
        message = f"{ErrorCode.AUDIT_LOG_FORKED.message} ({exc})"
        raise KarmoError(ErrorCode.AUDIT_LOG_FORKED, message) from exc
    if made.tree_size < last_sequence:  # a log that shrank while we read it
        raise KarmoError(ErrorCode.AUDIT_LOG_FORKED)
    return made


def _escape(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text


def write_pack(events: QuerySet[AuditEvent], out: IO[bytes]) -> Pack:
    """Write the pack of `events` (any filtered queryset) as a zip to `out`."""
    signer = configured_signer()
    if signer is None:
        raise KarmoError(ErrorCode.SIGNING_KEY_NOT_CONFIGURED)
    events = events.order_by("sequence")
    sequences = list(events.values_list("sequence", flat=True)[: MAX_EVENTS + 1])
    if len(sequences) > MAX_EVENTS:
        raise KarmoError(ErrorCode.PACK_TOO_LARGE)
    if not sequences:
        raise KarmoError(ErrorCode.AUDIT_EVENT_NOT_FOUND, "No audit event matches these filters.")
    checkpoint = _covering_checkpoint(sequences[-1])
    size = checkpoint.tree_size
    name = f"karmo-audit-evidence-{timezone.now():%Y%m%dT%H%M%SZ}.zip"
    files: dict[str, bytes] = {}
    lines, proofs = io.BytesIO(), io.BytesIO()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_FIELDS)
    for chunk in _chunks(events.iterator(chunk_size=CHUNK), CHUNK):
        paths = audit_tree.inclusion_proofs([e.sequence - 1 for e in chunk], size)
        for event, path in zip(chunk, paths, strict=True):
            lines.write(canonical(event).encode() + b"\n")
            proof = {
                "sequence": event.sequence,
                "leafIndex": event.sequence - 1,
                "treeSize": size,
                "proof": [digest.hex() for digest in path],
            }
            proofs.write(json.dumps(proof, separators=(",", ":")).encode() + b"\n")
            writer.writerow([_escape(getattr(event, field)) for field in CSV_FIELDS])
    files["events.jsonl"] = lines.getvalue()
    files["events.csv"] = table.getvalue().encode()
    files["proofs.jsonl"] = proofs.getvalue()
    files["checkpoint.txt"] = checkpoint.note.encode()
    files["README.txt"] = README.format(format=FORMAT, name=name, key=signer.verifier).encode()
    manifest = f"{FORMAT}\n{signer.name}\nevents {len(sequences)}\n" + "".join(
        f"{hashlib.sha256(data).hexdigest()}  {file}\n" for file, data in files.items()
    )
    files["manifest.txt"] = signer.sign(manifest).encode()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file, data in files.items():
            archive.writestr(file, data)
    return Pack(len(sequences), size, name)


def _chunks(items: Iterable[AuditEvent], size: int) -> Iterable[list[AuditEvent]]:
    chunk: list[AuditEvent] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
