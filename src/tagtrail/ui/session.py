"""Browser sessions: a signed cookie naming the principal, and a CSRF token for the forms.

The cookie is ``base64url(json) "." base64url(HMAC-SHA256)`` under a key kept in the data
directory next to the token keys (``keys/ui-session.key``, created on first use), so every worker
of a server shares it. It holds the principal's subject (re-checked against the accounts on each
request), a random CSRF token and an expiry; it is HttpOnly, SameSite=Lax, and Secure under TLS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "tagtrail_session"
KEY_FILE = "ui-session.key"
LIFETIME_SECONDS = 12 * 3600


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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(keys_dir: Path) -> bytes:
    """The session key, created atomically (O_EXCL) when no worker has made it yet."""
    path = keys_dir / KEY_FILE
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32))
    for _ in range(50):  # another worker may be between create and write
        text = path.read_text().strip()
        if text:
            return bytes.fromhex(text)
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty")


def _key(request: Request) -> bytes:
    state = request.app.state
    key: bytes | None = getattr(state, "ui_session_key", None)
    if key is None:
        key = load_key(state.settings.keys_dir)
        state.ui_session_key = key
    return key


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def encode(key: bytes, session: Session) -> str:
    body = {"sub": session.subject, "csrf": session.csrf, "exp": session.expires}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def decode(key: bytes, raw: str) -> Session | None:
    payload, _, signature = raw.partition(".")
    if not payload or not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        body = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(body, dict):
        return None
    subject, csrf, expires = body.get("sub"), body.get("csrf"), body.get("exp")
    if not (subject is None or isinstance(subject, str)):
        return None
    if not isinstance(csrf, str) or not isinstance(expires, int) or expires < time.time():
        return None
    return Session(subject, csrf, expires)


def current(request: Request) -> Session:
    """The request's session, or a new anonymous one (``fresh``) when it has none valid."""
    cached: Session | None = getattr(request.state, "ui_session", None)
    if cached is not None:
        return cached
    raw = request.cookies.get(COOKIE)
    found = decode(_key(request), raw) if raw else None
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
        encode(_key(request), replace(session, fresh=False)),
        max_age=max(0, session.expires - int(time.time())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
