"""Restoring a tag: pointing it back at a digest from its own history, as one move.

The store's part of ``registry.restore``: the check that the tag pointed to the digest before,
the check that the manifest is still stored, and the move with its history record, all in one
transaction under the tag's lock, so that no push, delete or gc between them changes the answer.
"""

from __future__ import annotations

from typing import Protocol

from tagtrail.types import Digest, MoveBy, RepoName, Tag, TagMove


class RestoreStore(Protocol):
    async def restore_tag(self, name: RepoName, tag: Tag, digest: Digest, by: MoveBy) -> TagMove:
        """Point ``tag`` at ``digest`` again, recorded as ``by`` says (a move only when it
        points elsewhere now). NameUnknown without the repository; TagUnknown when the tag
        has no history; ManifestUnknown when the tag never pointed to ``digest`` or its
        manifest is no longer stored; TagImmutable with ``by.rule`` when the tag would move."""
