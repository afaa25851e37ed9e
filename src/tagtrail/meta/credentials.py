"""Upstream credentials at rest: sealed with a key file so a database dump alone reveals none.

The key lives beside the token and session keys, in ``<data_dir>/keys/mirror-credentials.key``:
one Fernet key per line (anything after the key on its line is a note), created on first use.
Replicas share the file, as they share the session key. The last line seals, every line
opens, so a key can be added in front of a re-seal without losing what the older one sealed.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from tagtrail.keyfiles import key_line, key_words, write_new

KEY_FILE = "mirror-credentials.key"


class CredentialKeyInvalid(ValueError):
    """The key file holds a line that is no Fernet key, or no key at all; or a sealed value
    does not open under any of its keys (a different replica's file, a lost key)."""


class CredentialBox:
    """Seals and opens upstream passwords with the keys of one key file."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise CredentialKeyInvalid("no mirror credential key")
        # MultiFernet encrypts with its first key and decrypts with any: newest first.
        self._fernet = MultiFernet([Fernet(key) for key in reversed(keys)])

    def __repr__(self) -> str:
        return "CredentialBox(...)"

    @classmethod
    def load(cls, keys_dir: Path) -> CredentialBox:
        """The box of ``keys_dir``'s key file, which is created with one new key if missing."""
        path = keys_dir / KEY_FILE
        if not path.exists():
            write_new(path, key_line(Fernet.generate_key().decode()))
        keys = []
        for number, word in key_words(path):
            try:
                Fernet(word.encode())
            except ValueError as exc:
                raise CredentialKeyInvalid(f"{path}:{number}: not a Fernet key") from exc
            keys.append(word.encode())
        if not keys:
            raise CredentialKeyInvalid(f"{path}: no key")
        return cls(keys)

    def seal(self, secret: SecretStr) -> str:
        return self._fernet.encrypt(secret.get_secret_value().encode()).decode()

    def open(self, sealed: str) -> SecretStr:
        try:
            return SecretStr(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken as exc:
            raise CredentialKeyInvalid(
                f"a mirror password does not open with the keys in {KEY_FILE}: "
                "is it this server's keys directory?"
            ) from exc
