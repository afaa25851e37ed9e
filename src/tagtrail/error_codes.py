"""Every error code the registry answers with, each registered once with its HTTP status, its
default message and what it means: the one table that the error mapping (``api/errors.py``)
and the OpenAPI document (``api/openapi.py``) both read. Distribution's ``errcode`` registry
is the model; the codes of the OCI distribution specification keep its messages.

An exception names its entry (``errors.py``), so its status is never decided anywhere else.
A code means one thing to a client; where the status says more than the code (a body over its
limit is ``SIZE_INVALID`` with 413, a length mismatch the same code with 400), the code has a
second entry under another name, with that status.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str  # the ``code`` of the OCI error body
    status: int  # the HTTP status of the response
    message: str  # the ``message`` unless the error says more
    description: str  # when a client gets it (the OpenAPI document lists it)


_REGISTERED: list[ErrorCode] = []


def _entry(code: str, status: int, message: str, description: str) -> ErrorCode:
    entry = ErrorCode(code, status, message, description)
    _REGISTERED.append(entry)
    return entry


UNKNOWN = _entry(
    "UNKNOWN",
    500,
    "unknown error",
    "An unexpected failure; a request the HTTP layer refused carries this code with the "
    "status it was refused with.",
)
INVALID = _entry("INVALID", 400, "invalid request", "The request is malformed.")
NOT_FOUND = _entry(
    "NOT_FOUND", 404, "not found", "No such endpoint, or no such account or organisation."
)

# The OCI distribution specification's codes.
BLOB_UNKNOWN = _entry(
    "BLOB_UNKNOWN", 404, "blob unknown to registry", "The blob is not in the repository."
)
BLOB_UPLOAD_INVALID = _entry(
    "BLOB_UPLOAD_INVALID",
    400,
    "blob upload invalid",
    "The upload cannot go on as asked: a chunk at the wrong offset, or a body that stalled.",
)
RANGE_NOT_SATISFIABLE = _entry(
    "BLOB_UPLOAD_INVALID",
    416,
    "requested range not satisfiable",
    "An out-of-order chunk, or a Range that the blob cannot satisfy (Content-Range names "
    "its size).",
)
BLOB_UPLOAD_UNKNOWN = _entry(
    "BLOB_UPLOAD_UNKNOWN",
    404,
    "blob upload unknown to registry",
    "No such upload session: never started, finished, cancelled or expired.",
)
DIGEST_INVALID = _entry(
    "DIGEST_INVALID",
    400,
    "provided digest did not match uploaded content",
    "A malformed digest, or content that does not match its digest.",
)
MANIFEST_BLOB_UNKNOWN = _entry(
    "MANIFEST_BLOB_UNKNOWN",
    400,
    "manifest references a blob unknown to this repository",
    "A manifest references a blob (or manifest) that the repository does not hold.",
)
MANIFEST_INVALID = _entry(
    "MANIFEST_INVALID", 400, "manifest invalid", "The manifest cannot be parsed or verified."
)
MANIFEST_UNKNOWN = _entry(
    "MANIFEST_UNKNOWN",
    404,
    "manifest unknown",
    "No such manifest, no valid reference, or a tag with no history.",
)
NAME_INVALID = _entry(
    "NAME_INVALID", 400, "invalid repository name", "The repository name is malformed."
)
NAME_UNKNOWN = _entry(
    "NAME_UNKNOWN",
    404,
    "repository name not known to registry",
    "The repository does not exist here.",
)
SIZE_INVALID = _entry(
    "SIZE_INVALID",
    400,
    "provided length did not match content length",
    "A length that does not match the content.",
)
TOO_LARGE = _entry(
    "SIZE_INVALID",
    413,
    "request body too large",
    "A manifest or an upload over its limit (max_manifest_bytes, max_upload_bytes).",
)
TAG_INVALID = _entry("TAG_INVALID", 400, "invalid tag", "The tag is malformed.")
UNAUTHORIZED = _entry(
    "UNAUTHORIZED",
    401,
    "authentication required",
    "No valid credentials, or a token without the scopes the request needs "
    "(WWW-Authenticate says where to get one).",
)
DENIED = _entry(
    "DENIED",
    403,
    "requested access to the resource is denied",
    "The caller is known but may not do this.",
)
UNSUPPORTED = _entry(
    "UNSUPPORTED",
    405,
    "the operation is unsupported",
    "Refused by policy or configuration, or a method the endpoint does not have.",
)
TOOMANYREQUESTS = _entry(
    "TOOMANYREQUESTS",
    429,
    "too many open upload sessions in this repository",
    "Too many open upload sessions in the repository (max_uploads_per_repository).",
)

# The specification's extensions (tag history) and tagtrail's own (tokens, accounts).
PAGINATION_NUMBER_INVALID = _entry(
    "PAGINATION_NUMBER_INVALID",
    400,
    "invalid number of results requested",
    "The number of results asked for (n) is not a number tagtrail takes.",
)
TIMESTAMP_INVALID = _entry(
    "TIMESTAMP_INVALID", 400, "invalid timestamp", "A time bound is not an RFC 3339 timestamp."
)
SCOPE_INVALID = _entry("SCOPE_INVALID", 400, "invalid scope", "A token scope is malformed.")
TOKEN_REQUEST_INVALID = _entry(
    "TOKEN_REQUEST_INVALID",
    400,
    "invalid token request",
    "The token request is malformed: an unknown grant, a missing field, the wrong service.",
)
SETTING_INVALID = _entry(
    "SETTING_INVALID", 400, "invalid setting", "An account or repository setting is malformed."
)
CONFLICT = _entry(
    "CONFLICT", 409, "already exists", "An account, organisation or token already exists."
)
TAG_IMMUTABLE = _entry(
    "TAG_IMMUTABLE",
    409,
    "the tag is immutable",
    "An immutable-tag rule covers the tag: it may be created once, never moved or deleted.",
)

UNAVAILABLE = _entry(
    "UNAVAILABLE",
    503,
    "upstream registry unavailable",
    "A pull through a mirror needs its upstream, which is down, refuses the mirror's "
    "credentials or sent content that does not match its digest; nothing of it is held here.",
)

# In the order registered, which the OpenAPI document keeps.
ERROR_CODES: tuple[ErrorCode, ...] = tuple(_REGISTERED)
