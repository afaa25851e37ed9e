"""A do-nothing ASGI app: the ceiling of any request served through granian's ASGI here.

It answers every request with the bench manifest's bytes (read once from the file that
``TAGTRAIL_BENCH_BODY`` names), so the comparison with tagtrail's manifest GET differs only in
what tagtrail does: routing, the token check, the tag lookup, metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import Receive, Scope, Send

_BODY = Path(os.environ["TAGTRAIL_BENCH_BODY"]).read_bytes()
_HEADERS = [
    (b"content-type", b"application/vnd.oci.image.manifest.v1+json"),
    (b"content-length", b"%d" % len(_BODY)),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return  # lifespan: nothing to start
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
