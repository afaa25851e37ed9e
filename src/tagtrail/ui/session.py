"""Browser sessions: a signed cookie naming the principal, and a CSRF token for the forms.

The cookie is itsdangerous's URL-safe timed serialisation of ``{"sub", "csrf"}``: the
principal's subject (re-checked against the accounts on each request) and a random CSRF token,
HMAC-SHA256 signed, valid for 12 hours from signing. It is HttpOnly, SameSite=Lax, and Secure
under TLS.

The keys are in the data directory next to the token keys, in ``keys/ui-session.key``: one hex
key per line (anything after the key on its line is a note), created on the first start and
shared by every worker. The last line signs and every line verifies, so a rotation signs nobody
out: ``tagtrail admin key rotate --sessions`` appends a key, the servers sign with it once
restarted, and the line before it may be deleted a session lifetime (12 h) later. A worker reads
the keys once, at startup (``open_codec``, from the lifespan), never on a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from tagtrail.keyfiles import key_line, key_words, write_new

COOKIE = "tagtrail_session"
KEY_FILE = "ui-session.key"
LIFETIME_SECONDS = 12 * 3600
MIN_KEY_BYTES = 16
_SALT = "tagtrail.ui-session"


class KeyFileInvalid(Exception):
    """The key file holds a line that is no key, or no key at all."""


@dataclass(frozen=True, slots=True)
class Session:
    subject: str | None  # None: anonymous
    csrf: str
    expires: int
    fresh: bool = False  # not from the request's cookie: the response must set it

    @classmethod
    def new(cls, subject: str | None = None) -> Session:
        expires = int(time.time()) + LIFETIME_SECONDS
        return cls(subject, secrets.token_urlsafe(32), expires, fresh=True)

    def csrf_matches(self, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, presented)


class Codec:
    """Signs sessions with the newest of ``keys`` and reads them under any of them.

    ``clock`` (seconds) is when a cookie is signed and how old it is when read."""

    def __init__(self, keys: Sequence[bytes], clock: Callable[[], float] = time.time) -> None:
        if not keys:
            raise ValueError("no session key")

        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock())

        # itsdangerous signs with the last key of the list and verifies with each.
        self._serializer = URLSafeTimedSerializer(
            list(keys),
            salt=_SALT,
            signer=ClockSigner,
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    def encode(self, session: Session) -> str:
        return self._serializer.dumps({"sub": session.subject, "csrf": session.csrf})

    def decode(self, raw: str) -> Session | None:
        """The session ``raw`` holds; None when forged, signed by an unknown key, or expired."""
        try:
            body, signed_at = self._serializer.loads(
                raw, max_age=LIFETIME_SECONDS, return_timestamp=True
            )
        except BadSignature:  # expired, malformed and undecodable payloads included
            return None
        if not isinstance(body, dict):
            return None
        subject, csrf = body.get("sub"), body.get("csrf")
        if not (subject is None or isinstance(subject, str)) or not isinstance(csrf, str):
            return None
        assert isinstance(signed_at, datetime)
        return Session(subject, csrf, int(signed_at.timestamp()) + LIFETIME_SECONDS)


def load_keys(keys_dir: Path) -> list[bytes]:
    """The keys, oldest first; the file is created with one new key when there is none."""
    path = keys_dir / KEY_FILE
    if not path.exists():
        write_new(path, _key_line())
    keys = []
    for number, word in key_words(path):
        try:
            key = bytes.fromhex(word)
        except ValueError:
            key = b""
        if len(key) < MIN_KEY_BYTES:
            raise KeyFileInvalid(f"{path}:{number}: not a key of {MIN_KEY_BYTES} hex bytes or more")
        keys.append(key)
    if not keys:
        raise KeyFileInvalid(f"{path}: no key")
    return keys


def rotate_keys(keys_dir: Path) -> int:
    """Append a new signing key (the others keep verifying); returns how many keys there are."""
    path = keys_dir / KEY_FILE
    existing = path.read_text() if path.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    write_new(path, existing + _key_line(), replace_existing=True)
    return len(load_keys(keys_dir))


async def open_codec(keys_dir: Path) -> Codec:
    """The codec of the keys in ``keys_dir``, read off the event loop."""
    return Codec(await asyncio.to_thread(load_keys, keys_dir))


def _key_line() -> str:
    return key_line(secrets.token_hex(32))


def _codec(request: Request) -> Codec:
    codec: Codec = request.app.state.ui_sessions
    return codec


def current(request: Request) -> Session:
    """The request's session, or a new anonymous one (``fresh``) when it has none valid."""
    cached: Session | None = getattr(request.state, "ui_session", None)
    if cached is not None:
        return cached
    raw = request.cookies.get(COOKIE)
    found = _codec(request).decode(raw) if raw else None
    session = found or Session.new()
    request.state.ui_session = session
    return session


def secure(request: Request) -> bool:
    """Under TLS: served over HTTPS, or reached through an https external URL (a proxy)."""
    external: str | None = request.app.state.settings.external_url
    return request.url.scheme == "https" or bool(external and external.startswith("https://"))


def store(request: Request, response: Response, session: Session) -> None:
    """Set the cookie for ``session`` on ``response``."""
    response.set_cookie(
        COOKIE,
        _codec(request).encode(replace(session, fresh=False)),
        max_age=max(0, session.expires - int(time.time())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
