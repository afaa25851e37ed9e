"""The pull paths' own cost: the ASGI app driven in this process, no server, no sockets.

    .venv/bin/python -m bench.inprocess            # microseconds a request, best of 7 rounds
    .venv/bin/python -m bench.inprocess --profile  # cProfile of manifest GETs by tag
    .venv/bin/python -m bench.inprocess --auth     # with auth on, a bearer token each request
    .venv/bin/python -m bench.inprocess --whole    # every pull the whole way (nothing kept)

What a load generator measures is this plus the server's HTTP and ASGI work (granian answers
a do-nothing ASGI app at about 26 us a request on this 2-core machine, with the load generator
beside it) and the machine's noise. This part is the one tagtrail's code decides, and it holds
still enough to compare two versions of a change.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import pstats
import secrets
import tempfile
import time
from pathlib import Path

from starlette.types import Message

from tagtrail.api.app import RegistryApp, create_app
from tagtrail.auth.model import PULL, PUSH, Grant
from tagtrail.auth.scopes import Scope
from tagtrail.auth.tokens import TokenAuthority
from tagtrail.cli.serve import bootstrap
from tagtrail.config import load_settings

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


Header = tuple[bytes, bytes]


async def call(
    app: RegistryApp,
    method: str,
    path: str,
    body: bytes = b"",
    query: str = "",
    extra: tuple[Header, ...] = (),
) -> int:
    """One request through the app, as granian hands it over; the response status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:5000"), (b"accept", MANIFEST.encode()), *extra],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
        "extensions": {"http.response.pathsend": {}},
        "state": {},
    }
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # a client that says nothing more
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def started(data: Path, auth: bool, whole: bool) -> tuple[RegistryApp, asyncio.Task[None]]:
    """The app on fresh embedded storage and its lifespan, started (as a worker's is);
    ``whole``: no pull's answer kept (api/pull_answers.py), each goes the whole way."""
    settings = load_settings(
        data_dir=data,
        auth=auth,
        log_level="error",
        admin_password=secrets.token_urlsafe(),
        pull_answer_bytes=0 if whole else 8 * 1024 * 1024,
    )
    await bootstrap(settings)
    app = create_app(settings)
    ready = asyncio.Event()
    messages: asyncio.Queue[Message] = asyncio.Queue()
    await messages.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            ready.set()

    lifespan = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    running = asyncio.get_running_loop().create_task(app(lifespan, messages.get, send))
    await ready.wait()
    return app, running


def bearer(app: RegistryApp) -> tuple[Header, ...]:
    """An Authorization header with a token of the app's own for bench/small (pull, push)."""
    authority: TokenAuthority = app.app.state.guard.authority
    scope = Scope("repository", "bench/small", frozenset({PULL, PUSH}))
    issued = authority.issue("user:admin", [(scope, Grant(scope.actions))])
    return ((b"authorization", f"Bearer {issued.token}".encode()),)


async def pushed(app: RegistryApp, extra: tuple[Header, ...]) -> tuple[str, str]:
    """A one-layer image (900-byte layer) as ``bench/small:v1``; its manifest and layer digests."""
    layer, config = b"x" * 900, b"{}"
    digests = {}
    for blob in (layer, config):
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        status = await call(
            app, "POST", "/v2/bench/small/blobs/uploads/", blob, f"digest={digest}", extra
        )
        if status != 201:
            raise RuntimeError(f"blob upload answered {status}")
        digests[blob] = digest
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digests[config],
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digests[layer],
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    status = await call(app, "PUT", "/v2/bench/small/manifests/v1", manifest, "", extra)
    if status != 201:
        raise RuntimeError(f"manifest PUT answered {status}")
    return "sha256:" + hashlib.sha256(manifest).hexdigest(), digests[layer]


async def measure(requests: int, profile: bool, auth: bool, whole: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="tagtrail-inprocess-") as scratch:
        app, _lifespan = await started(Path(scratch), auth, whole)
        extra = bearer(app) if auth else ()
        manifest, layer = await pushed(app, extra)
        paths = [
            ("GET", "/v2/"),
            ("GET", "/v2/bench/small/manifests/v1"),
            ("HEAD", "/v2/bench/small/manifests/v1"),
            ("GET", f"/v2/bench/small/manifests/{manifest}"),
            ("GET", f"/v2/bench/small/blobs/{layer}"),
            ("HEAD", f"/v2/bench/small/blobs/{layer}"),
        ]
        for method, path in paths:
            status = await call(app, method, path, extra=extra)
            if status != 200:
                raise RuntimeError(f"{method} {path} answered {status}")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                await call(app, "GET", "/v2/bench/small/manifests/v1", extra=extra)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            return
        best: dict[tuple[str, str], float] = {}
        for _ in range(7):  # the best round: the least disturbed by the rest of the machine
            for method, path in paths:
                began = time.perf_counter()
                for _ in range(requests):
                    await call(app, method, path, extra=extra)
                took = (time.perf_counter() - began) / requests * 1e6
                best[(method, path)] = min(best.get((method, path), took), took)
        for (method, path), micros in best.items():
            print(f"{method:4} {path[:60]:60} {micros:6.1f} us")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests a path a round")
    parser.add_argument("--profile", action="store_true", help="cProfile manifest GETs instead")
    parser.add_argument("--auth", action="store_true", help="auth on, a bearer token a request")
    parser.add_argument("--whole", action="store_true", help="keep no answers: the whole way")
    args = parser.parse_args(argv)
    asyncio.run(measure(args.requests, args.profile, args.auth, args.whole))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
