"""Account records as values: users, organisations, pull tokens, roles and visibility.

Beside ``types`` at the bottom of the layers: the account store (``meta.accounts``) keeps them
and the access policy (``auth.policy``) judges by them, and neither imports the other's layer
for them. What a caller may do with them (principals, actions, grants) is ``auth.model``'s.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

from tagtrail import error_codes
from tagtrail.errors import InvalidInput

Role = Literal["pull", "push", "admin"]
ROLES: tuple[Role, ...] = ("pull", "push", "admin")


class SettingInvalid(InvalidInput):
    error_code = error_codes.SETTING_INVALID


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
