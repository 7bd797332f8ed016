"""Signed checkpoints of the audit log, written where the database's writer cannot reach.

A checkpoint is a C2SP tlog-checkpoint (origin, tree size, root) in a C2SP signed-note with an
Ed25519 signature. Each one goes to an append-only directory (one file per tree size, never
overwritten) and, when configured, to a witness speaking C2SP tlog-witness, whose co-signature
is kept with it once it verifies against the witness's key (KARMO_AUDIT_WITNESS_KEY).
Verification reads the directory and the witness, never the database's copy.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import transaction
from karmo_verify import (
    COSIGNATURE_V1,
    ED25519,
    SIGNATURE_PREFIX,
    Checkpoint,
    VerificationError,
    VerifierKey,
    key_id,
    open_checkpoint,
    split_note,
    verify_cosignature,
)

from accounts import audit_tree
from accounts.audit import lock_chain
from accounts.models import AuditCheckpoint

SIGNER_PREFIX = "PRIVATE+KEY+"
SUFFIX = ".checkpoint"
WITNESS_TIMEOUT = 10.0


class CheckpointError(Exception):
    """Checkpoints cannot be made or read as configured; the message says why."""


@dataclass(frozen=True)
class Signer:
    """The log's note signer: its name is the checkpoints' origin."""

    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> VerifierKey:
        """The matching public verifier key, as auditors are given it."""
        public = self.private.public_key().public_bytes_raw()
        return VerifierKey(self.name, key_id(self.name, public), public)

    def sign(self, body: str) -> str:
        """The signed note: body, a blank line, this key's signature line."""
        signature = self.verifier.key_id + self.private.sign(body.encode())
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {base64.b64encode(signature).decode()}\n"

    def __str__(self) -> str:
        seed = bytes([ED25519]) + self.private.private_bytes_raw()
        return (
            f"{SIGNER_PREFIX}{self.name}+{self.verifier.key_id.hex()}+"
            f"{base64.b64encode(seed).decode()}"
        )


def new_signer(name: str) -> Signer:
    """A fresh Ed25519 signer for the origin `name` (no spaces or '+')."""
    if not name or any(c.isspace() or c == "+" for c in name):
        raise CheckpointError("a key name is non-empty, without spaces or '+'")
    return Signer(name, Ed25519PrivateKey.generate())


def parse_signer(text: str) -> Signer:
    """Read `PRIVATE+KEY+<name>+<key id>+<base64(0x01 || seed)>`."""
    parts = text.strip().removeprefix(SIGNER_PREFIX).split("+", 2)
    if not text.strip().startswith(SIGNER_PREFIX) or len(parts) != 3:
        raise CheckpointError("KARMO_AUDIT_SIGNING_KEY reads PRIVATE+KEY+<name>+<id>+<key>")
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except ValueError as exc:
        raise CheckpointError("KARMO_AUDIT_SIGNING_KEY's key is not base64") from exc
    if len(raw) != 33 or raw[0] != ED25519:
        raise CheckpointError("KARMO_AUDIT_SIGNING_KEY is not an Ed25519 key")
    signer = Signer(parts[0], Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.key_id.hex() != parts[1]:
        raise CheckpointError("KARMO_AUDIT_SIGNING_KEY's id does not match its key")
    return signer


def configured_signer() -> Signer | None:
    """The signer from KARMO_AUDIT_SIGNING_KEY, or None when it is not set."""
    text = settings.KARMO_AUDIT_SIGNING_KEY
    return parse_signer(text) if text else None


def public_key() -> VerifierKey | None:
    """The verifier key auditors check checkpoints and packs with."""
    signer = configured_signer()
    return signer.verifier if signer else None


@dataclass(frozen=True)
class WitnessKey:
    """A witness's cosignature/v1 verifier key: `<name>+<key id>+<base64(0x04 || key)>`."""

    name: str
    public: bytes

    @classmethod
    def parse(cls, text: str) -> WitnessKey:
        """Read a C2SP cosignature/v1 key, or the Ed25519 note key `audit_keygen` printed for
        the witness's key file (the same key pair, typed 0x01)."""
        parts = text.strip().split("+", 2)
        try:
            raw = base64.b64decode(parts[2], validate=True) if len(parts) == 3 else b""
            given_id = bytes.fromhex(parts[1]) if raw else b""
        except (binascii.Error, ValueError) as exc:
            raise CheckpointError(f"KARMO_AUDIT_WITNESS_KEY is not valid: {exc}") from exc
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1) or not parts[0]:
            raise CheckpointError("KARMO_AUDIT_WITNESS_KEY reads <name>+<key id>+<key>")
        key = cls(parts[0], raw[1:])
        wanted = key.key_id if raw[0] == COSIGNATURE_V1 else key_id(key.name, key.public)
        if given_id != wanted:
            raise CheckpointError("KARMO_AUDIT_WITNESS_KEY's id does not match its name and key")
        return key

    @property
    def key_id(self) -> bytes:
        """SHA-256(name || '\\n' || 0x04 || key)[:4], which opens each of its cosignatures."""
        material = self.name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + self.public
        return hashlib.sha256(material).digest()[:4]

    def cosigned_at(self, note: str) -> int | None:
        """The time of this witness's valid cosignature on the signed note, or None."""
        try:
            body, signatures = split_note(note)
        except VerificationError:
            return None
        for name, signature in signatures:
            if name == self.name:
                signed_at = verify_cosignature(body, signature, name, self.public)
                if signed_at is not None:
                    return signed_at
        return None

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def configured_witness_key() -> WitnessKey | None:
    """The witness's key from KARMO_AUDIT_WITNESS_KEY, or None when it is not set."""
    text = settings.KARMO_AUDIT_WITNESS_KEY
    return WitnessKey.parse(text) if text else None


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The tlog-checkpoint text: origin, size and base64 root, one per line."""
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def directory() -> Path:
    """The append-only checkpoint directory."""
    return Path(settings.KARMO_AUDIT_CHECKPOINT_DIR)


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint file: its name, its note text and what it says."""

    name: str
    text: str
    checkpoint: Checkpoint


def read_directory(key: VerifierKey) -> list[StoredCheckpoint]:
    """Every checkpoint file, smallest tree first; raises on one that does not verify."""
    folder = directory()
    if not folder.is_dir():
        return []
    stored = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        text = path.read_text(encoding="utf-8")
        try:
            checkpoint = open_checkpoint(text, key)
        except VerificationError as exc:
            raise CheckpointError(f"checkpoint {path.name}: {exc}") from exc
        if path.name != _file_name(checkpoint.size):
            raise CheckpointError(f"checkpoint {path.name} says {checkpoint.size} events")
        stored.append(StoredCheckpoint(path.name, text, checkpoint))
    return stored


def _file_name(size: int) -> str:
    return f"{size:012d}{SUFFIX}"


@contextmanager
def _exclusive() -> Iterator[None]:
    """One checkpoint writer at a time per directory (task, command and exports alike)."""
    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _snapshot() -> tuple[int, bytes]:
    """The tree size and root, read while no writer appends."""
    with transaction.atomic():
        lock_chain()
        size = audit_tree.tree_size()
        return size, audit_tree.root(size)


def write_checkpoint() -> AuditCheckpoint | None:
    """Sign the log's current size and root, unless the latest checkpoint already says it.

    Returns the checkpoint now covering the whole log (None for an empty log). Raises
    CheckpointError without a key, or when a file for this size already holds another root
    (a fork: the database was rewritten or restored since).
    """
    signer = configured_signer()
    if signer is None:
        raise CheckpointError("no KARMO_AUDIT_SIGNING_KEY: run manage.py audit_keygen")
    with _exclusive():
        size, root = _snapshot()
        if size == 0:
            return None
        existing = AuditCheckpoint.objects.filter(tree_size=size).first()
        if existing is not None and existing.root == root.hex():
            return existing
        note = signer.sign(checkpoint_body(signer.name, size, root))
        witnessed, status, cosignatures = _witness(note, size)
        note = note + cosignatures
        path = directory() / _file_name(size)
        try:
            with path.open("x", encoding="utf-8") as handle:
                handle.write(note)
                handle.flush()
                os.fsync(handle.fileno())
        except FileExistsError as exc:
            raise CheckpointError(
                f"checkpoint {path.name} already exists with another root: the log forked"
            ) from exc
        return AuditCheckpoint.objects.create(
            tree_size=size, root=root.hex(), note=note, witnessed=witnessed, witness_status=status
        )


def _witness(note: str, size: int) -> tuple[bool, str, str]:
    """Submit to the witness: (co-signed?, what happened, its signature lines)."""
    url = settings.KARMO_AUDIT_WITNESS_URL
    if not url:
        return False, "no witness configured", ""
    last = AuditCheckpoint.objects.filter(witnessed=True, tree_size__lte=size).first()
    old = last.tree_size if last else 0
    try:
        for _ in range(2):  # once more from the size the witness says it holds
            proof = audit_tree.consistency_proof(old, size)
            body = f"old {old}\n" + "".join(f"{base64.b64encode(p).decode()}\n" for p in proof)
            answer = httpx.post(
                f"{url.rstrip('/')}/add-checkpoint",
                content=f"{body}\n{note}".encode(),
                timeout=WITNESS_TIMEOUT,
            )
            held = answer.text.strip()
            if answer.status_code == 409 and held.isdigit() and int(held) <= size:
                old = int(held)
                continue
            break
    except httpx.HTTPError as exc:
        return False, f"witness unreachable: {type(exc).__name__}", ""
    except audit_tree.TreeIncompleteError as exc:
        return False, f"witness not asked: {exc}", ""
    if answer.status_code != 200:
        return False, f"witness refused: HTTP {answer.status_code} {answer.text[:120]}", ""
    lines = [line for line in answer.text.splitlines() if line.startswith(SIGNATURE_PREFIX)]
    if not lines:
        return False, "witness answered without a co-signature", ""
    return _check_cosignature(note, lines)


def _check_cosignature(note: str, lines: list[str]) -> tuple[bool, str, str]:
    """Keep the witness's lines only when one is a valid cosignature by the configured key."""
    try:
        key = configured_witness_key()
    except CheckpointError as exc:
        return False, f"co-signature not checked: {exc}", ""
    if key is None:
        return False, "co-signature not checked: KARMO_AUDIT_WITNESS_KEY is not set", ""
    for line in lines:
        if key.cosigned_at(f"{note}{line}\n") is not None:
            return True, f"co-signed by {key.name}", f"{line}\n"
    return False, f"co-signature did not verify against KARMO_AUDIT_WITNESS_KEY ({key.name})", ""


def witness_checkpoint(key: VerifierKey) -> StoredCheckpoint | None:
    """The latest checkpoint the witness holds for this log (GET <url>/checkpoint)."""
    url = settings.KARMO_AUDIT_WITNESS_URL
    if not url:
        return None
    try:
        answer = httpx.get(f"{url.rstrip('/')}/checkpoint", timeout=WITNESS_TIMEOUT)
    except httpx.HTTPError as exc:
        raise CheckpointError(f"witness unreachable: {type(exc).__name__}") from exc
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise CheckpointError(f"witness answered HTTP {answer.status_code}")
    try:
        return StoredCheckpoint(
            "the witness's checkpoint", answer.text, open_checkpoint(answer.text, key)
        )
    except VerificationError as exc:
        raise CheckpointError(f"witness's checkpoint: {exc}") from exc
