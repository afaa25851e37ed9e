"""The mirror-store protocol: upstream registries registered under a local prefix.

A mirror's prefix is an organisation of its own (visibility, members and pull tokens as for any
other); its repositories are the upstream's, so pushes into it are refused. Passwords are
sealed at rest (``meta.credentials``) and held as ``SecretStr`` in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httpx
from pydantic import SecretStr

from tagtrail.errors import InvalidInput, NameInvalid
from tagtrail.types import parse_name

DEFAULT_CHECK_SECONDS = 60
# Status of a mirror nothing has checked yet (``add --no-check``); the checks set the others.
UNCHECKED = "unchecked"
OK = "ok"
CREDENTIALS_REJECTED = "credentials rejected"


@dataclass(frozen=True)
class MirrorRecord:
    prefix: str
    url: str
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    check_interval_s: int = DEFAULT_CHECK_SECONDS
    status: str = UNCHECKED
    created_ms: int = 0


def checked(mirror: MirrorRecord) -> MirrorRecord:
    """``mirror`` when it can be registered; InvalidInput, in words, when it cannot."""
    try:
        parse_name(mirror.prefix)
    except NameInvalid:
        valid = False
    else:
        valid = "/" not in mirror.prefix
    if not valid:
        raise InvalidInput(
            f"mirror prefix {mirror.prefix!r}: one lowercase name component, e.g. hub"
        )
    try:
        url = httpx.URL(mirror.url if "://" in mirror.url else f"https://{mirror.url}")
    except httpx.InvalidURL:
        url = None
    # Credentials in the URL would be stored and shown in plain text: they go apart.
    if url is None or url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise InvalidInput(
            "mirror URL: http(s)://host[:port] with no user or password in it "
            "(those are --username and --password-stdin)"
        )
    if url.query or url.fragment:
        raise InvalidInput("mirror URL: no query or fragment")
    if mirror.check_interval_s < 1:
        raise InvalidInput("mirror check interval: at least 1 s")
    if (mirror.username is None) != (mirror.password is None):
        raise InvalidInput("a mirror takes a username and a password, or neither")
    return mirror


class MirrorDirectory(Protocol):
    async def mirror_upstreams(self) -> dict[str, str]:
        """The upstream URL of each mirror prefix (no credentials: for refusing pushes)."""


class MirrorStore(MirrorDirectory, Protocol):
    async def add_mirror(self, mirror: MirrorRecord) -> None:
        """Register ``mirror``, creating its organisation (private) unless there is one.
        Raises Conflict when the prefix is a mirror already or has repositories."""

    async def update_mirror(self, mirror: MirrorRecord) -> bool:
        """Replace the url, credentials and interval of a registered prefix (the status too when
        the upstream changed); False when the prefix is no mirror."""

    async def get_mirror(self, prefix: str) -> MirrorRecord | None: ...
    async def list_mirrors(self) -> list[MirrorRecord]: ...
    async def remove_mirror(self, prefix: str) -> bool:
        """Forget the upstream; the organisation and what was mirrored stay."""

    async def set_mirror_status(self, prefix: str, status: str) -> bool: ...
    async def change_mirror_status(self, prefix: str, status: str) -> bool:
        """Set ``status`` unless it is the mirror's already: True only for the one caller, of
        all workers and replicas, whose write changed it (so that one of them logs it)."""
