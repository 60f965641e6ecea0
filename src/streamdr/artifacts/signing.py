"""ed25519 keys and signatures of artifact manifests.

A key is identified by the first 16 hex digits of the sha256 of its raw public bytes. Private
keys are PKCS#8 PEM files (mode 0600, optionally password-protected); public keys are
SubjectPublicKeyInfo PEM files that operators list under ``artifacts.trusted_keys``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streamdr.artifacts.errors import ArtifactRejectedError
from streamdr.errors import InputError
from streamdr.fsutil import fsync_dir

ALGORITHM = "ed25519"
TrustedKeys = Mapping[str, Ed25519PublicKey]


def key_id(public: Ed25519PublicKey) -> str:
    """Return the key id: 16 hex digits of sha256 over the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key() -> Ed25519PrivateKey:
    """Return a new ed25519 private key."""
    return Ed25519PrivateKey.generate()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` durably to a file that must not exist yet (never overwrite a key).

    Raises OSError when the file exists or cannot be written; a partial file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_keypair(
    key: Ed25519PrivateKey, private_path: Path, public_path: Path, password: bytes | None = None
) -> str:
    """Write the private (0600) and public key files and return the key id.

    Raises InputError when either file already exists.
    """
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(
                f"{path} already exists; refusing to overwrite a key",
                hint="Choose another --out name, or move the old key away deliberately.",
            )
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        # Never leave half a key pair: a private key without its public half is unusable and
        # would make the next `keys generate` refuse to overwrite it.
        private_path.unlink(missing_ok=True)
        raise
    return key_id(key.public_key())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"cannot read {what} {path}: {exc.strerror}",
            hint="Check the path (`streamdr keys generate` creates a key pair).",
        ) from exc


def load_private_key(path: Path, password: bytes | None = None) -> Ed25519PrivateKey:
    """Return the ed25519 private key in ``path``; raises InputError when it is not one."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"{path} is not a readable PEM private key ({exc})",
            hint="Use a key from `streamdr keys generate`; set "
            "artifacts.signing_key_password_env if it has a password.",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path} is not an ed25519 key", hint="Use `streamdr keys generate`.")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Return the ed25519 public key in ``path``; raises InputError when it is not one."""
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise InputError(
            f"{path} is not a PEM public key ({exc})",
            hint="List the .pub files written by `streamdr keys generate`.",
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path} is not an ed25519 public key", hint="Use an ed25519 key.")
    return key


def load_trusted_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Return ``{key id: public key}`` for every trusted key file."""
    keys = {}
    for path in paths:
        public = load_public_key(path)
        keys[key_id(public)] = public
    return keys


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """Return the signature document (JSON bytes) for ``data``."""
    doc = {
        "algorithm": ALGORITHM,
        "key_id": key_id(key.public_key()),
        "signature": base64.b64encode(key.sign(data)).decode(),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _signature_fields(signature_doc: bytes, label: str) -> tuple[str, bytes]:
    try:
        doc = json.loads(signature_doc)
        if doc.get("algorithm") != ALGORITHM:
            raise ValueError(f"algorithm {doc.get('algorithm')!r} is not {ALGORITHM}")
        return str(doc["key_id"]), base64.b64decode(doc["signature"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ArtifactRejectedError(
            f"artifact {label}: manifest.sig is not a valid signature document ({exc})",
            hint="Treat the entry as tampered: do not deploy it; publish a new version.",
        ) from exc


def verify(data: bytes, signature_doc: bytes | None, trusted: TrustedKeys, label: str) -> str:
    """Return the id of the trusted key whose signature over ``data`` is valid.

    Raises ArtifactRejectedError when the signature is missing, malformed, made by a key that is
    not trusted, or does not match ``data``.
    """
    if not signature_doc:
        raise ArtifactRejectedError(
            f"artifact {label} is unsigned (no manifest.sig)",
            hint="Only signed artifacts run; publish with `streamdr artifacts publish`.",
        )
    kid, signature = _signature_fields(signature_doc, label)
    public = trusted.get(kid)
    if public is None:
        raise ArtifactRejectedError(
            f"artifact {label} is signed by key {kid}, which is not trusted",
            hint="Add the signer's public key file to artifacts.trusted_keys if it is yours; "
            f"trusted key ids: {', '.join(sorted(trusted)) or 'none configured'}.",
        )
    try:
        public.verify(signature, data)
    except InvalidSignature as exc:
        raise ArtifactRejectedError(
            f"artifact {label}: the signature of key {kid} does not match manifest.json "
            "(tampered manifest)",
            hint="Do not deploy it; roll back to a verified version and investigate the registry.",
        ) from exc
    return kid
