"""HTTP-dates (RFC 9110 section 5.6.7) of stored millisecond timestamps, for ``Last-Modified``.

An HTTP-date has whole seconds: the millisecond timestamp is cut to its second (rounding up
could put it after the response's own time, which RFC 9110 forbids).
"""

from __future__ import annotations

from email.utils import formatdate
from functools import lru_cache


def http_date(timestamp_ms: int) -> bytes:
    """``Sun, 06 Nov 1994 08:49:37 GMT`` for epoch milliseconds, encoded for a header."""
    return _of_second(timestamp_ms // 1000)


# On the manifest pull path: formatting costs 2.5 us, a cached second 0.1 us, and a busy
# registry's pulls name the same few tag moves over and over.
@lru_cache(maxsize=4096)
def _of_second(second: int) -> bytes:
    return formatdate(second, usegmt=True).encode("ascii")
