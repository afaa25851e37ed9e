"""The ceiling of a Python mirror's first pull on this machine: a relay with no framework.

A first pull through a mirror must receive the upstream's bytes, hash them, store them and
send them on. This relay does only that, as plainly as Python can: blocking sockets, one
``recv_into`` a preallocated buffer, ``hashlib`` and a page-cache ``write`` per piece, no HTTP
library, no event loop, no durability (tagtrail writes with O_DIRECT and fsyncs). A Python
mirror that does these steps in its own memory will hardly beat it, so (b) of
``bench/mirror_pull`` reports it beside tagtrail's: the ratio against a direct pull that the
hardware allows, and how far tagtrail's own path is from it.

Variants of it measured on 2026-11-27 (100 MB, curl, medians of 5, 0.9-1.1 GB/s direct): a
bare forward kept 0.99x of a direct pull from Distribution, hashing too 0.66x, hashing and
storing 0.45-0.53x; in ``bench.mirror_pull``'s run, with the direct pull at 1.15 GB/s, 0.33x.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

PIECE = 1024 * 1024


@dataclass
class Relay:
    """Answers a GET of a blob with the upstream's answer to the same path, its body hashed and
    written to ``store`` on the way (the hash checked against the path's digest at the end).
    One client at a time."""

    upstream_port: int
    store: Path
    _listener: socket.socket = field(init=False)

    def start(self) -> Relay:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # stopped
            with client:
                request, _ = _read_head(client)
                self._relay(client, request.split(b" ", 2)[1])

    def _relay(self, client: socket.socket, path: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            upstream.sendall(
                b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path
            )
            head, rest = _read_head(upstream)
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                raise RuntimeError(f"the upstream answered {head[:80]!r}")
            client.sendall(head + b"\r\n\r\n")  # the upstream's, Content-Length included
            hasher = hashlib.sha256()
            buffer = bytearray(PIECE)
            view = memoryview(buffer)
            with self.store.open("wb") as stored:
                # The body's start may have come with the head; else the first read has it.
                piece = memoryview(rest) if rest else view[: upstream.recv_into(buffer)]
                while piece:
                    hasher.update(piece)
                    stored.write(piece)
                    client.sendall(piece)
                    piece = view[: upstream.recv_into(buffer)]
        if b"sha256:" + hasher.hexdigest().encode() != path.rsplit(b"/", 1)[-1]:
            raise RuntimeError(f"the relayed bytes do not hash to {path!r}")


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """An HTTP message's head and whatever of its body came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the end of the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest
