"""Who is asking (principals), what they may see (visibility) and do (roles), as values."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from tagtrail.errors import InvalidInput

PULL, PUSH, DELETE, ALL = "pull", "push", "delete", "*"
ACTIONS_ORDER = (PULL, PUSH, DELETE, ALL)

Role = Literal["pull", "push", "admin"]
ROLES: tuple[Role, ...] = ("pull", "push", "admin")
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "pull": frozenset({PULL}),
    "push": frozenset({PULL, PUSH}),
    "admin": frozenset({PULL, PUSH, DELETE}),
}


class SettingInvalid(InvalidInput):
    code = "SETTING_INVALID"
    default_message = "invalid setting"


@dataclass(frozen=True, slots=True)
class Visibility:
    """private (the default), public, or public for the tags matching ``tags`` (globs)."""

    kind: Literal["private", "public", "public-tags"]
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> Visibility:
        text = raw.strip()
        if text == "private":
            return cls("private")
        if text == "public":
            return cls("public")
        if text.startswith("public-tags="):
            tags = tuple(
                t.strip() for t in text.removeprefix("public-tags=").split(",") if t.strip()
            )
            if tags:
                return cls("public-tags", tags)
        raise SettingInvalid(
            "visibility is private, public or public-tags=TAG[,TAG...]", detail={"value": raw}
        )

    def __str__(self) -> str:
        return f"public-tags={','.join(self.tags)}" if self.kind == "public-tags" else self.kind

    def tag_is_public(self, tag: str) -> bool:
        if self.kind == "public":
            return True
        return self.kind == "public-tags" and any(fnmatch.fnmatchcase(tag, p) for p in self.tags)


PRIVATE = Visibility("private")


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


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    password_hash: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class PullTokenRecord:
    id: str
    organisation: str
    secret_sha256: str
    can_push: bool
    expires_ms: int | None
    revoked_ms: int | None
    description: str
    created_ms: int

    def valid_at(self, now_ms: int) -> bool:
        return self.revoked_ms is None and (self.expires_ms is None or now_ms < self.expires_ms)


@dataclass(frozen=True, slots=True)
class OrganisationRecord:
    name: str
    visibility: Visibility
    members: dict[str, str] = field(default_factory=dict)


def organisation_of(repository: str) -> str:
    """Organisations own the first path component of repository names."""
    return repository.split("/", 1)[0]
