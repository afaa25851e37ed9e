"""Which immutable-tag rule covers a tag, and adding and removing rules.

Every push, delete, restore and mirror move asks which rule covers its tags; the answer goes
into ``MoveBy.rule``, and the storing transaction refuses the move with it
(``meta.sql_tag_moves``), under the tag's lock: two concurrent pushes cannot both create then
move an immutable tag, whatever this cache says.

The rules of an organisation are read once per ``CACHE_SECONDS`` per worker, so that a push
costs no extra query; a change made on this worker clears its cache at once, and one made
elsewhere (another worker, a replica, ``tagtrail admin rule``) takes effect within that time.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable

from tagtrail.clock import now_ms
from tagtrail.errors import NotFound
from tagtrail.meta.rules import TagRule as TagRule  # re-exported: the web layers read rules here
from tagtrail.meta.rules import TagRuleStore, checked_rule
from tagtrail.types import RepoName

log = logging.getLogger("tagtrail.rules")

CACHE_SECONDS = 2.0
MAX_CACHED = 10_000  # organisations


def covers(rule: TagRule, name: str, tag: str) -> bool:
    """Whether ``rule`` guards ``tag`` of repository ``name`` (globs, case-sensitive)."""
    organisation, _, rest = name.partition("/")
    if organisation != rule.organisation or not rest:
        return False
    if rule.repository is not None and not fnmatch.fnmatchcase(rest, rule.repository):
        return False
    if not fnmatch.fnmatchcase(tag, rule.tag_pattern):
        return False
    return not any(fnmatch.fnmatchcase(tag, p) for p in rule.exceptions)


class TagRules:
    def __init__(
        self,
        store: TagRuleStore,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cached: dict[str, tuple[float, list[TagRule]]] = {}

    async def in_force(self, organisation: str) -> list[TagRule]:
        """The organisation's rules, at most ``cache_seconds`` old."""
        now = self._clock()
        cached = self._cached.get(organisation)
        if cached is not None and cached[0] > now:
            return cached[1]
        rules = await self._store.tag_rules(organisation)
        if len(self._cached) >= MAX_CACHED:  # pushes to ever new names (auth off) stay bounded
            self._cached.clear()
        self._cached[organisation] = (now + self._cache_seconds, rules)
        return rules

    async def covering(self, name: RepoName) -> Callable[[str], str | None]:
        """For ``name``: a tag's covering rule, described (the oldest that covers it), or None.
        One read of the rules (or none, cached) for all the tags of one move."""
        rules = await self.in_force(name.partition("/")[0])

        def rule_for(tag: str) -> str | None:
            for rule in rules:
                if covers(rule, name, tag):
                    return rule.describe()
            return None

        return rule_for

    async def listed(self, organisation: str | None, *, removed: bool = False) -> list[TagRule]:
        """Rules in force (``removed``: the removals, the audit record), uncached."""
        return await self._store.list_tag_rules(organisation, removed=removed)

    async def get(self, rule_id: int) -> TagRule | None:
        return await self._store.get_tag_rule(rule_id)

    async def add(self, rule: TagRule) -> TagRule:
        added = await self._store.add_tag_rule(checked_rule(rule))
        self._cached.pop(added.organisation, None)
        log.info("tag rule %s added by %s", added.describe(), added.created_by or "unknown")
        return added

    async def remove(self, rule_id: int, *, by: str | None) -> TagRule:
        """Remove a rule in force, keeping the audit record (who, when) and logging it;
        NotFound when no rule in force has that id. Whether ``by`` may is the caller's check."""
        removed = await self._store.remove_tag_rule(rule_id, by=by, when_ms=now_ms())
        if removed is None:
            raise NotFound(f"no tag rule #{rule_id} in force", detail={"rule": rule_id})
        self._cached.pop(removed.organisation, None)
        # A warning: lifting a rule that stops moves is what an audit looks for in the log.
        log.warning("tag rule %s removed by %s", removed.describe(), by or "unknown")
        return removed
