"""Answers to repeated pulls, kept by each worker while nothing stored changes.

A registry mostly answers the same pulls again and again: every node of a cluster asking for
the same manifest by tag, with the same token, until the tag moves. The answer to a manifest
or small-blob GET/HEAD depends on the request's method, path, query and credentials; on what
is stored (tags, manifests, blob links, accounts and rights); and, for a token, on it being
still valid. So an answer its handler marks ``reusable`` (``RawResponse``) is kept under the
request's method, path, query and ``Authorization``, with the metadata's data version
(``Registry.data_version``: any commit by any process changes it), and given again while the
version is the same and the guard says the caller still stands (``Guard.still_within``: the
token not expired, its key still trusted). A handler that marks an answer reusable promises
it read nothing else of the request.

Not kept: requests with a Range or conditional header (they go the whole way), callers whose
rights are looked up per request (Basic, a pull token's secret), anything but a 200, and
everything on PostgreSQL, which has no data version to read cheaply.

Profiled first (``bench.inprocess --auth``): a manifest GET by tag took 100 us of Python on
a slow machine, spread over routing, name and reference parsing, the token and grant checks,
the SQL lookup and the response's headers, no part above a sixth of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.types import Scope

from tagtrail.api.http import RawResponse
from tagtrail.api.metrics import route_class
from tagtrail.web.guard import Caller, ReuseTerms

# Request headers that change a pull's answer: such requests are never answered from here.
_VARYING = frozenset(
    {
        b"range",
        b"if-range",
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
    }
)
PULL_METHODS = frozenset({"GET", "HEAD"})
Key = tuple[str, str, bytes, bytes]  # method, path, query string, Authorization
_PENDING = "tagtrail.pull_answer"  # in a scope: (key, version) its answer may be kept under


class Versioned(Protocol):
    """What answers are kept under: the registry (``Registry.data_version``)."""

    def data_version(self) -> int | None: ...


class Judge(Protocol):
    """Who may be given a kept answer: the guard (web/guard.py)."""

    def reuse_terms(self, credential: str) -> ReuseTerms | None: ...
    def still_within(self, terms: ReuseTerms) -> bool: ...


@dataclass(frozen=True, slots=True)
class Answer:
    headers: list[tuple[bytes, bytes]]  # encoded, complete (api/http.py RawResponse)
    body: bytes
    caller: Caller | None  # whom the guard allowed (None: auth off), for the access log
    terms: ReuseTerms  # how long the guard's decision holds, checked on every reuse
    route: str  # its route class, for the metrics (api/metrics.py)


def key_of(scope: Scope) -> Key | None:
    """The key of a pull's answer; None for a request that must go the whole way."""
    authorization = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name in _VARYING:
            return None
    return (scope["method"], scope["path"], scope["query_string"], authorization)


class PullAnswers:
    """The answers of one data version: a new version drops them all. Bounded by entries and
    by the bytes of their bodies; the oldest kept goes first."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._version: int | None = None
        self._answers: dict[Key, Answer] = {}
        self._bytes = 0

    def look_up(self, scope: Scope, registry: Versioned, guard: Judge) -> Answer | None:
        """The kept answer to the pull of ``scope``, if its caller still stands. Otherwise,
        when the request's answer may be kept, where it goes is noted in the scope for
        ``keep`` (the version is read now, before anything the handler reads)."""
        key = key_of(scope)
        if key is None:
            return None
        version = registry.data_version()
        if version is None:
            return None
        if version != self._version:
            self._answers.clear()
            self._bytes = 0
            self._version = version
        else:
            answer = self._answers.get(key)
            if answer is not None:
                if guard.still_within(answer.terms):
                    return answer
                self._drop(key)
        scope[_PENDING] = (key, version)
        return None

    def keep(self, scope: Scope, response: RawResponse, guard: Judge) -> None:
        """Keep ``response`` to the pull of ``scope`` when its handler marked it reusable,
        it is a 200, and what was allowed to its caller holds (``Guard.reuse_terms``)."""
        pending = scope.get(_PENDING)
        if pending is None or not response.reusable or response.status_code != 200:
            return
        key, version = pending
        caller = scope.get("state", {}).get("caller")
        credential = key[3].decode("latin-1").partition(" ")[2].strip()
        terms = guard.reuse_terms(credential)
        if terms is None:
            return
        body = bytes(response.body)
        self._add(
            key, version, Answer(response.raw_headers, body, caller, terms, route_class(key[1]))
        )

    def _add(self, key: Key, version: int, answer: Answer) -> None:
        size = len(answer.body)
        if version != self._version or size > self.max_bytes or key in self._answers:
            return
        while self._answers and (
            len(self._answers) >= self.max_entries or self._bytes + size > self.max_bytes
        ):
            self._drop(next(iter(self._answers)))
        self._answers[key] = answer
        self._bytes += size

    def _drop(self, key: Key) -> None:
        dropped = self._answers.pop(key, None)
        if dropped is not None:
            self._bytes -= len(dropped.body)

    def __len__(self) -> int:
        return len(self._answers)
