"""An answer given before the request's body was read closes the connection.

A refusal (413 for a form or manifest over its limit, 401 before a push's body, any error
raised before the handler reads) leaves the rest of the body on the wire. The server then
closes the connection after the answer, but a client that saw a complete response without
``Connection: close`` puts the connection back in its pool and sends its next request into
the closing socket ("Server disconnected without sending a response"; seen with httpx, 14 of
200 tries against granian). RFC 9112 9.6: a server that closes after a response sends
``Connection: close`` in it, so no client reuses the connection.

Only requests that may carry a body are watched: GET and HEAD, the pulls, pass untouched.
"""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

_CLOSE = (b"connection", b"close")


def declares_body(scope: Scope) -> bool:
    """Whether the request says a body follows: a Content-Length above 0, or chunked."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            return value.strip() not in (b"0", b"")
        if key == b"transfer-encoding":
            return True
    return False


def closing_unread(scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send]:
    """``receive`` and ``send`` for ``scope`` such that a response started before the whole
    declared body was received says ``Connection: close``."""
    read_all = False

    async def watched_receive() -> Message:
        nonlocal read_all
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            read_all = True
        return message

    async def closing_send(message: Message) -> None:
        if message["type"] == "http.response.start" and not read_all and declares_body(scope):
            message["headers"] = [*message.get("headers", ()), _CLOSE]
        await send(message)

    return watched_receive, closing_send
