"""Offline verifier of Karmo Admin audit evidence: Merkle proofs, signed checkpoints, packs.

Needs only the standard library and `cryptography`, no Django and no database:

    python -m karmo_verify PACK.zip --key 'karmo.example/audit+1a2b3c4d+AV7j...'

Checkpoints follow C2SP tlog-checkpoint inside a C2SP signed-note with an Ed25519 signature;
the tree is RFC 6962 / RFC 9162 (leaf = SHA-256(0x00 || bytes), node = SHA-256(0x01 || l || r)).
Exit status: 0 when the pack verifies, 1 with the reasons when it does not, 2 on bad usage.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space open every signature line


class VerificationError(Exception):
    """Evidence that does not verify; the message says why."""


# --- RFC 6962 / 9162 Merkle tree -----------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 2.1.3.2); raises when malformed."""
    if index >= size:
        raise VerificationError(f"leaf index {index} is outside a tree of {size}")
    fn, sn, digest = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short")
    return digest


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` shows `leaf` at `index` in the tree of `size` leaves with `root`."""
    try:
        return root_from_inclusion(index, size, leaf, proof) == root
    except VerificationError:
        return False


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether `proof` shows the tree (old, old_root) is a prefix of (new, new_root)."""
    if old > new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first = second = path[0]
    for sibling in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first, second = node_hash(sibling, first), node_hash(sibling, second)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            second = node_hash(second, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first == old_root and second == new_root


# --- C2SP signed-note and tlog-checkpoint ----------------------------------------------------


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || '\\n' || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A note verifier key: `<name>+<hex key id>+<base64(0x01 || public key)>`."""

    name: str
    key_id: bytes
    public: bytes

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key; raises VerificationError when it is malformed."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not parts[0]:
            raise VerificationError("a verifier key reads <name>+<key id>+<key>")
        try:
            raw = base64.b64decode(parts[2], validate=True)
            given_id = bytes.fromhex(parts[1])
        except (binascii.Error, ValueError) as exc:
            raise VerificationError(f"verifier key is not valid: {exc}") from exc
        if len(raw) != 33 or raw[0] != ED25519:
            raise VerificationError("verifier key is not an Ed25519 key")
        if given_id != key_id(parts[0], raw[1:]):
            raise VerificationError("verifier key's id does not match its name and key")
        return cls(parts[0], given_id, raw[1:])

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifies(self, body: str, signature: bytes) -> bool:
        """Whether `signature` (4-byte id, then 64 bytes) is this key's over the note body."""
        if len(signature) != 68 or signature[:4] != self.key_id:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature[4:], body.encode())
        except InvalidSignature:
            return False
        return True


def split_note(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """A signed note's body (ending in a newline) and its (key name, signature) lines."""
    body, sep, signatures = text.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise VerificationError("not a signed note: no blank line before the signatures")
    found = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
            raise VerificationError(f"not a signature line: {line[:60]!r}")
        name, encoded = line[len(SIGNATURE_PREFIX) :].split(" ")
        try:
            found.append((name, base64.b64decode(encoded, validate=True)))
        except binascii.Error as exc:
            raise VerificationError("a signature is not base64") from exc
    return body + "\n", found


def open_note(text: str, key: VerifierKey) -> str:
    """The body of a note `key` signed; raises VerificationError otherwise."""
    body, signatures = split_note(text)
    if not any(name == key.name and key.verifies(body, sig) for name, sig in signatures):
        raise VerificationError(f"no valid signature by {key.name} on the note")
    return body


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint: the log's origin, its size and the root of its Merkle tree."""

    origin: str
    size: int
    root: bytes

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Read a checkpoint body (origin, size and base64 root lines, then extensions)."""
        lines = body.split("\n")
        if len(lines) < 4:
            raise VerificationError("a checkpoint has an origin, a size and a root hash line")
        origin, size, root = lines[:3]
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise VerificationError(f"checkpoint size is not a number: {size!r}")
        try:
            digest = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise VerificationError("checkpoint root is not base64") from exc
        if len(digest) != 32:
            raise VerificationError("checkpoint root is not a SHA-256 hash")
        return cls(origin, int(size), digest)


def open_checkpoint(text: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint in a note signed by `key`, whose origin must be the key's name."""
    checkpoint = Checkpoint.parse(open_note(text, key))
    if checkpoint.origin != key.name:
        raise VerificationError(f"checkpoint is for {checkpoint.origin!r}, not {key.name!r}")
    return checkpoint
