"""Offline verifier of Karmo Admin audit evidence: Merkle proofs, signed checkpoints, packs.

Needs only the standard library and `cryptography`, no Django and no database:

    python -m karmo_verify PACK.zip --key 'karmo.example/audit+1a2b3c4d+AV7j...'

Checkpoints follow C2SP tlog-checkpoint inside a C2SP signed-note with an Ed25519 signature;
the tree is RFC 6962 / RFC 9162 (leaf = SHA-256(0x00 || bytes), node = SHA-256(0x01 || l || r)).
Exit status: 0 when the pack verifies, 1 with the reasons when it does not, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import sys
import zipfile
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


COSIGNATURE_V1 = 0x04  # C2SP tlog-cosignature's key type: a witness's timestamped signature


def cosignature_message(body: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs: its header line, the time line, then the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def verify_cosignature(body: str, signature: bytes, name: str, public: bytes) -> int | None:
    """The time (Unix seconds) a cosignature/v1 by (name, key) over `body` carries, or None.

    The signature is the 4-byte key id SHA-256(name || '\\n' || 0x04 || key)[:4], the 8-byte
    big-endian timestamp, then the Ed25519 signature over cosignature_message().
    """
    wanted = hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public).digest()[:4]
    if len(signature) != 4 + 8 + 64 or signature[:4] != wanted:
        return None
    timestamp = int.from_bytes(signature[4:12], "big")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature[12:], cosignature_message(body, timestamp)
        )
    except InvalidSignature:
        return None
    return timestamp


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


# --- Evidence packs --------------------------------------------------------------------------

PACK_FORMAT = "karmo-audit-pack/1"
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class Verdict:
    """What checking a pack found: the reasons it fails (none when it verifies)."""

    problems: list[str]
    events: int = 0
    checkpoint: Checkpoint | None = None

    @property
    def ok(self) -> bool:
        """Whether the pack verifies."""
        return not self.problems


def _manifest(archive: zipfile.ZipFile, key: VerifierKey, verdict: Verdict) -> dict[str, str]:
    """The manifest's {file: sha256}, after checking its signature, format and count line."""
    try:
        body = open_note(archive.read("manifest.txt").decode(), key)
    except KeyError:
        verdict.problems.append("manifest.txt is missing")
        return {}
    except (VerificationError, UnicodeDecodeError) as exc:
        verdict.problems.append(f"manifest.txt: {exc}")
        return {}
    lines = body.rstrip("\n").split("\n")
    if lines[:2] != [PACK_FORMAT, key.name] or not lines[2].startswith("events "):
        verdict.problems.append(f"manifest.txt is not a {PACK_FORMAT} manifest of {key.name}")
        return {}
    verdict.events = int(lines[2].removeprefix("events "))
    listed = {}
    for line in lines[3:]:
        digest, _, name = line.partition("  ")
        listed[name] = digest
    return listed


def _check_files(archive: zipfile.ZipFile, listed: dict[str, str], verdict: Verdict) -> None:
    for name in sorted(set(archive.namelist()) - set(listed) - {"manifest.txt"}):
        verdict.problems.append(f"{name} is not in the manifest")
    for name, digest in listed.items():
        try:
            data = archive.read(name)
        except KeyError:
            verdict.problems.append(f"{name} is listed in the manifest but missing")
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            verdict.problems.append(f"{name}: SHA-256 does not match the manifest")


def _check_events(archive: zipfile.ZipFile, checkpoint: Checkpoint, verdict: Verdict) -> None:
    lines = archive.read("events.jsonl").split(b"\n")[:-1]
    proofs = [json.loads(line) for line in archive.read("proofs.jsonl").split(b"\n")[:-1]]
    if len(lines) != verdict.events:
        verdict.problems.append(
            f"manifest lists {verdict.events} events, events.jsonl has {len(lines)}"
        )
    if len(proofs) != len(lines):
        verdict.problems.append(f"{len(lines)} events but {len(proofs)} proofs")
    previous: tuple[int, str, bytes] | None = None
    for line, proof in zip(lines, proofs, strict=False):
        event = json.loads(line)
        sequence = event.get("sequence")
        if not isinstance(sequence, int):
            verdict.problems.append("an event has no sequence number")
            continue
        if _CANONICAL.encode(event).encode() != line:
            verdict.problems.append(f"event #{sequence} is not in canonical form")
        if previous is not None and sequence <= previous[0]:
            verdict.problems.append(f"events out of order: #{sequence} after #{previous[0]}")
        if previous is not None and sequence == previous[0] + 1:
            linked = hashlib.sha256(previous[1].encode() + previous[2]).hexdigest()
            if event.get("prev_hash") != linked:
                verdict.problems.append(f"event #{sequence} does not chain to #{previous[0]}")
        if proof.get("sequence") != sequence or proof.get("treeSize") != checkpoint.size:
            verdict.problems.append(f"event #{sequence}: its proof is for another event or tree")
        else:
            path = [bytes.fromhex(p) for p in proof.get("proof", [])]
            if not verify_inclusion(
                sequence - 1, checkpoint.size, leaf_hash(line), path, checkpoint.root
            ):
                verdict.problems.append(
                    f"event #{sequence}: inclusion proof does not lead to the checkpoint's root"
                )
        previous = (sequence, str(event.get("prev_hash", "")), line)


def verify_pack(source: str | io.BytesIO, key: VerifierKey) -> Verdict:
    """Check a pack: manifest signature and hashes, checkpoint signature, every event's proof."""
    verdict = Verdict([])
    try:
        archive = zipfile.ZipFile(source)
        archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        verdict.problems.append(f"not a readable zip file: {exc}")
        return verdict
    with archive:
        listed = _manifest(archive, key, verdict)
        if not listed:
            return verdict
        _check_files(archive, listed, verdict)
        try:
            verdict.checkpoint = open_checkpoint(archive.read("checkpoint.txt").decode(), key)
        except (KeyError, VerificationError, UnicodeDecodeError) as exc:
            verdict.problems.append(f"checkpoint.txt: {exc}")
            return verdict
        try:
            _check_events(archive, verdict.checkpoint, verdict)
        except (KeyError, ValueError) as exc:
            verdict.problems.append(f"events or proofs cannot be read: {exc}")
    return verdict


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: prints the verdict, exits 0 (verified), 1 (not) or 2 (bad usage)."""
    parser = argparse.ArgumentParser(prog="karmo_verify", description=__doc__.split("\n")[0])
    parser.add_argument("pack", help="the evidence pack (.zip)")
    parser.add_argument("--key", required=True, help="the log's verifier key, or a file holding it")
    args = parser.parse_args(argv)
    text = args.key
    if "+" not in text:
        try:
            with open(text, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            print(f"cannot read the key: {exc}", file=sys.stderr)
            return 2
    try:
        key = VerifierKey.parse(text)
    except VerificationError as exc:
        print(f"bad key: {exc}", file=sys.stderr)
        return 2
    verdict = verify_pack(args.pack, key)
    if verdict.ok and verdict.checkpoint is not None:
        print(
            f"VERIFIED: {verdict.events} events, each proven in the tree of "
            f"{verdict.checkpoint.size} events with root {verdict.checkpoint.root.hex()} "
            f"signed by {key.name}"
        )
        return 0
    print("NOT VERIFIED:")
    for problem in verdict.problems:
        print(f"- {problem}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
