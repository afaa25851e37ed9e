"""Restoring a tag: pointing it back at a digest from its own history, as an operation of its
own (recorded with action ``restore`` and who did it), rather than a GET and a PUT that would
read as any push.

The target is a digest the tag pointed to (never one it did not: a restore is not a way to
push), or the digest it pointed to at a moment. The check and the move are one transaction
(``meta.restore``); the manifest must still be stored, which history retention ensures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tagtrail.errors import ManifestUnknown, NameUnknown, TagUnknown
from tagtrail.meta.restore import RestoreStore
from tagtrail.meta.store import HistoryStore, RepositoryStore
from tagtrail.registry.mirror_guard import MirrorGuard, refuse_writes
from tagtrail.registry.tag_rules import TagRules
from tagtrail.times import format_timestamp
from tagtrail.types import Digest, MoveBy, RepoName, Tag, TagMove


@dataclass(frozen=True, slots=True)
class Restored:
    digest: Digest  # where the tag points now
    move: TagMove  # ``move.previous``: where it pointed before; ``moved`` False when it was there


class Restore:
    def __init__(
        self,
        restores: RestoreStore,
        history: HistoryStore,
        repositories: RepositoryStore,
        *,
        guard: MirrorGuard | None = None,
        rules: TagRules | None = None,
    ) -> None:
        self._rules = rules
        self._restores = restores
        self._history = history
        self._repositories = repositories
        self._guard = guard

    async def to_digest(
        self, name: RepoName, tag: Tag, digest: Digest, *, actor: str | None
    ) -> Restored:
        """Point ``tag`` at ``digest``, which it pointed to before."""
        await refuse_writes(self._guard, name)
        by = MoveBy("restore", actor)
        if self._rules is not None:  # an immutable tag is not restored either (TagImmutable)
            by = replace(by, rule=(await self._rules.covering(name))(tag))
        move = await self._restores.restore_tag(name, tag, digest, by)
        return Restored(digest, move)

    async def to_moment(
        self, name: RepoName, tag: Tag, at_ms: int, *, actor: str | None
    ) -> Restored:
        """Point ``tag`` at the digest it pointed to at ``at_ms``. ManifestUnknown when it
        pointed nowhere then (before its first record, or deleted)."""
        await refuse_writes(self._guard, name)
        found = await self._history.history(
            name, tag, start_ms=None, end_ms=at_ms, limit=1, newest_first=True
        )
        if not found:
            if not await self._history.tag_has_history(name, tag):
                if not await self._repositories.repository_exists(name):
                    raise NameUnknown(detail={"name": name})
                raise TagUnknown(detail={"tag": tag})
            at = format_timestamp(at_ms)
            raise ManifestUnknown(
                f"{name}:{tag} did not exist at {at}: its history starts later",
                detail={"tag": tag, "at": at},
            )
        record = found[0]
        if record.event == "deleted":
            at = format_timestamp(at_ms)
            raise ManifestUnknown(
                f"{name}:{tag} did not exist at {at}: it was deleted at "
                f"{format_timestamp(record.timestamp_ms)}",
                detail={"tag": tag, "at": at},
            )
        return await self.to_digest(name, tag, record.digest, actor=actor)
