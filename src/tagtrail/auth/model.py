"""Who is asking (principals) and what they may do (actions, grants), as values.

The account records they come from (users, roles, visibility) are ``tagtrail.accounts``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
ACTIONS_ORDER = (PULL, PUSH, DELETE, ALL)

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "pull": frozenset({PULL}),
    "push": frozenset({PULL, PUSH}),
    "admin": frozenset({PULL, PUSH, DELETE}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``subject`` is what tokens carry in ``sub``."""

    kind: Literal["anonymous", "user", "pull_token"]
    name: str = ""
    is_admin: bool = False
    organisation: str | None = None  # a pull token's organisation
    can_push: bool = False  # a pull token's push right

    @property
    def subject(self) -> str:
        if self.kind == "anonymous":
            return "anonymous"
        return f"{'user' if self.kind == 'user' else 'token'}:{self.name}"


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True, slots=True)
class Grant:
    """What a caller may do on one repository. ``tag_limits`` is set when the pull right
    comes only from public tags: then only those tags and what they reach may be read."""

    actions: frozenset[str]
    tag_limits: tuple[str, ...] | None = None
