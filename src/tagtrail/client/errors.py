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
"""

from __future__ import annotations


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
