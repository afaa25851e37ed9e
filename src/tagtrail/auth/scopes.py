"""Scopes of the Docker registry token specification.

``repository:<name>:<actions>`` where the name may hold ``host:port`` (so the actions follow
the last colon), a resource type may carry a class (``repository(plugin)``), and
``registry:catalog:*``. Several scopes may share one string, separated by spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from tagtrail import error_codes
from tagtrail.auth.model import ACTIONS_ORDER
from tagtrail.errors import InvalidInput

_TYPE_RE = re.compile(r"([a-z0-9]+)(?:\([a-z0-9]+\))?")
_ACTION_RE = re.compile(r"[a-z]+|\*")


class ScopeInvalid(InvalidInput):
    error_code = error_codes.SCOPE_INVALID


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        ordered = [a for a in ACTIONS_ORDER if a in self.actions]
        ordered += sorted(self.actions - set(ACTIONS_ORDER))
        return f"{self.type}:{self.name}:{','.join(ordered)}"


CATALOG = Scope("registry", "catalog", frozenset({"*"}))


def parse_scope(raw: str) -> Scope:
    kind, sep, rest = raw.partition(":")
    name, sep2, actions = rest.rpartition(":")
    type_match = _TYPE_RE.fullmatch(kind)
    if not (sep and sep2 and name and type_match):
        raise ScopeInvalid(detail={"scope": raw[:300]})
    parsed = frozenset(a for a in actions.split(",") if a)
    if not parsed or not all(_ACTION_RE.fullmatch(a) for a in parsed):
        raise ScopeInvalid(detail={"scope": raw[:300]})
    return Scope(type_match.group(1), name, parsed)


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every scope in the repeated, space-separated ``scope`` parameters, merged per resource."""
    merged: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return [Scope(t, n, frozenset(a)) for (t, n), a in merged.items()]
