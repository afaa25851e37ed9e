"""HTTP authentication headers, as the Docker token flow uses them on both sides of tagtrail:
the CLI talking to a registry (``client/auth.py``) and a mirror talking to its upstream
(``upstream/auth.py``). One parser of ``WWW-Authenticate`` and one Basic header for both."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

# RFC 7235 auth-params: name=token or name="quoted string" (backslash escapes).
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))')


@dataclass(frozen=True, slots=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme (lowercase) and its parameters."""

    scheme: str
    params: dict[str, str]

    @property
    def scopes(self) -> list[str]:
        return self.params.get("scope", "").split()


def parse_challenge(header: str) -> Challenge | None:
    """The challenge in ``header``; None when it is empty."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        match.group(1).lower(): (
            re.sub(r"\\(.)", r"\1", match.group(2))
            if match.group(2) is not None
            else match.group(3)
        )
        for match in _PARAM_RE.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


def basic_header(username: str, password: str) -> str:
    """The ``Authorization`` value for Basic credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
