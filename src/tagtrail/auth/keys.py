"""Token signing keys: one signs, every known key verifies, so keys rotate without downtime.

Keys are PEM-encoded EC P-256 private keys (ES256). By default they live in
``<data_dir>/keys``: ``signing.pem`` signs, and every other ``*.pem`` there (a retired signing
key, or another replica's key) still verifies. ``token_key``/``token_verify_keys`` settings
name the files instead, for replicas that share keys.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNING_FILE = "signing.pem"


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:15]).decode()


def _load_public(path: Path) -> ec.EllipticCurvePublicKey:
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        private = serialization.load_pem_private_key(data, password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path}: not an EC private key")
        return private.public_key()
    public = serialization.load_pem_public_key(data)
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise ValueError(f"{path}: not an EC public key")
    return public


def _load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return private


def write_new_key(path: Path) -> None:
    """Create a private key file readable by its owner only, atomically."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(temporary, path)  # never replaces: a concurrent creator's key wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


def rotate(keys_dir: Path) -> str:
    """Retire the signing key (it keeps verifying) and create a new one; returns the new kid."""
    current = keys_dir / SIGNING_FILE
    if current.exists():
        retired = keys_dir / f"retired-{int(time.time())}-{key_id(_load_public(current))}.pem"
        os.replace(current, retired)
    write_new_key(current)
    return key_id(_load_public(current))


@dataclass
class KeyRing:
    signing_key: ec.EllipticCurvePrivateKey
    signing_kid: str
    verifying: dict[str, ec.EllipticCurvePublicKey]
    _directory: Path | None
    _extra: tuple[Path, ...]
    _scanned: float = 0.0

    @classmethod
    def load(
        cls, keys_dir: Path, signing: Path | None = None, extra: tuple[Path, ...] = ()
    ) -> KeyRing:
        if signing is None:
            signing = keys_dir / SIGNING_FILE
            if not signing.exists():
                write_new_key(signing)
            directory: Path | None = keys_dir
        else:
            directory = None
        private = _load_private(signing)
        ring = cls(private, key_id(private.public_key()), {}, directory, extra)
        ring.refresh()
        return ring

    def refresh(self) -> None:
        """Re-read the verifying keys (a rotation elsewhere adds one)."""
        found = {self.signing_kid: self.signing_key.public_key()}
        paths = list(self._extra)
        if self._directory is not None:
            paths += sorted(self._directory.glob("*.pem"))
        for path in paths:
            public = _load_public(path)
            found[key_id(public)] = public
        self.verifying = found
        self._scanned = time.monotonic()

    def public_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        found = self.verifying.get(kid)
        if found is None and time.monotonic() - self._scanned > 5:
            self.refresh()  # at most every few seconds, however many bad kids arrive
            found = self.verifying.get(kid)
        return found
