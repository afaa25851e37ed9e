"""The client's exception tree. The CLI prints ``str(error)`` as one line and exits non-zero.

::

    ClientError
    ├── UsageError            bad input: a reference, a time, a path
    ├── CredentialsError      config.json or a credential helper failed
    ├── RegistryUnreachable   no HTTP answer (refused, DNS, TLS, timeout)
    ├── AuthError             401/403: credentials rejected or a scope refused
    ├── NotFoundError         unknown repository, tag or manifest
    ├── NoHistoryApi          the registry serves no tag history API
    ├── NotAtTime             the tag pointed nowhere at the requested moment
    └── UnexpectedResponse    any other answer the command cannot use

``error_summary`` and ``error_codes`` read what a registry's OCI error body says, for those
messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class ClientError(Exception):
    """A failure the user can act on; its message is a single line."""


class UsageError(ClientError):
    pass


class CredentialsError(ClientError):
    pass


class RegistryUnreachable(ClientError):
    pass


class AuthError(ClientError):
    pass


class NotFoundError(ClientError):
    pass


class NoHistoryApi(ClientError):
    pass


class NotAtTime(ClientError):
    pass


class UnexpectedResponse(ClientError):
    pass


def error_summary(response: httpx.Response) -> str:
    """``404 Not Found: MANIFEST_UNKNOWN: manifest unknown`` from an OCI error body."""
    text = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body: Any = response.json()
        first = body["errors"][0]
        return f"{text}: {first['code']}: {first['message']}"
    except (ValueError, KeyError, IndexError, TypeError):
        return text


def error_codes(response: httpx.Response) -> list[str]:
    try:
        body: Any = response.json()
        return [str(error["code"]) for error in body["errors"]]
    except (ValueError, KeyError, TypeError):
        return []
