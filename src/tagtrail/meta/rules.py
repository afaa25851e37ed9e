"""The tag-rule store protocol: immutable-tag rules per organisation, and their removals.

A rule guards the tags matching ``tag_pattern`` (a glob, ``fnmatch`` semantics, case-sensitive)
in the organisation's repositories, or in those whose name after the organisation matches
``repository`` (a glob too); tags matching one of ``exceptions`` are exempt. Which rule covers a
push is decided by ``registry.tag_rules``; the refusal itself happens in the storing
transaction (``meta.sql_tag_moves``). A removed rule stays stored, stamped with who removed it
and when: that is the audit record of the removal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from tagtrail.errors import InvalidInput, NameInvalid
from tagtrail.types import parse_name

# What a glob may hold: the characters of the names (tags) it matches, and the glob's own.
_REPOSITORY_GLOB = re.compile(r"[a-z0-9._/*?\[\]!-]{1,200}")
_TAG_GLOB = re.compile(r"[A-Za-z0-9._*?\[\]!-]{1,128}")


@dataclass(frozen=True, slots=True)
class TagRule:
    organisation: str
    repository: str | None  # a glob over the name after "<organisation>/"; None: all of them
    tag_pattern: str
    exceptions: tuple[str, ...] = ()
    id: int = 0  # given by the store
    created_ms: int = 0
    created_by: str | None = None
    removed_ms: int | None = None
    removed_by: str | None = None

    @property
    def target(self) -> str:
        """What the rule was added for: ``acme`` or ``acme/<repository glob>``."""
        return (
            self.organisation
            if self.repository is None
            else (f"{self.organisation}/{self.repository}")
        )

    def describe(self) -> str:
        """The rule in one line, as a refusal names it: ``#3 acme/app v* except latest``."""
        text = f"#{self.id} {self.target} {self.tag_pattern}"
        return text + (f" except {','.join(self.exceptions)}" if self.exceptions else "")


def parse_target(raw: str) -> tuple[str, str | None]:
    """``<org>[/<repository glob>]`` as (organisation, repository glob or None); InvalidInput
    in words when it is neither."""
    organisation, sep, repository = raw.partition("/")
    try:
        parse_name(organisation)
    except NameInvalid:
        raise InvalidInput(
            f"rule target {raw!r}: <organisation>[/<repository>], e.g. acme or acme/app*"
        ) from None
    if not sep:
        return organisation, None
    if not _REPOSITORY_GLOB.fullmatch(repository):
        raise InvalidInput(
            f"rule target {raw!r}: the repository part is a lowercase name or glob, e.g. app*"
        )
    return organisation, repository


def checked_rule(rule: TagRule) -> TagRule:
    """``rule`` when its patterns are globs a tag could match; InvalidInput when not."""
    for pattern in (rule.tag_pattern, *rule.exceptions):
        if not _TAG_GLOB.fullmatch(pattern):
            raise InvalidInput(
                f"tag pattern {pattern!r}: a glob of tag characters (letters, digits, . _ -) "
                "and * ? [...], e.g. v* or *.*.*"
            )
    return rule


class TagRuleStore(Protocol):
    async def add_tag_rule(self, rule: TagRule) -> TagRule:
        """Store ``rule`` (its id and ``removed_*`` ignored); the rule with its id."""

    async def tag_rules(self, organisation: str) -> list[TagRule]:
        """The organisation's rules in force, oldest first (what a move is judged by)."""

    async def list_tag_rules(
        self, organisation: str | None, *, removed: bool = False
    ) -> list[TagRule]:
        """Rules in force (``removed``: the removed ones instead), of one organisation or all,
        by id."""

    async def get_tag_rule(self, rule_id: int) -> TagRule | None:
        """The rule, in force or removed; None when no rule has that id."""

    async def remove_tag_rule(
        self, rule_id: int, *, by: str | None, when_ms: int
    ) -> TagRule | None:
        """Stamp the rule removed (by whom, when); the removed rule, or None when no rule in
        force has that id (one of two racing removals gets None)."""
