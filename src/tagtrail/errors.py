"""The domain exception tree. One place (``tagtrail.api.errors``) turns these into HTTP.

::

    RegistryError                     code (OCI error code), message, detail
    ├── InvalidInput                  the request itself is malformed (400)
    │   ├── NameInvalid               NAME_INVALID
    │   ├── DigestInvalid             DIGEST_INVALID
    │   ├── TagInvalid                TAG_INVALID
    │   ├── ManifestInvalid           MANIFEST_INVALID
    │   ├── ManifestBlobUnknown       MANIFEST_BLOB_UNKNOWN
    │   ├── BlobUploadInvalid         BLOB_UPLOAD_INVALID
    │   ├── SizeInvalid               SIZE_INVALID
    │   ├── PaginationNumberInvalid   PAGINATION_NUMBER_INVALID
    │   └── TimestampInvalid          TIMESTAMP_INVALID
    ├── NotFound                      the thing does not exist here (404)
    │   ├── NameUnknown               NAME_UNKNOWN
    │   ├── BlobUnknown               BLOB_UNKNOWN
    │   ├── BlobUploadUnknown         BLOB_UPLOAD_UNKNOWN
    │   ├── ManifestUnknown           MANIFEST_UNKNOWN
    │   └── TagUnknown                MANIFEST_UNKNOWN (a tag with no history)
    ├── RangeNotSatisfiable           out-of-order chunk or unsatisfiable Range (416)
    ├── TooLarge                      SIZE_INVALID, a body over its limit (413)
    │   ├── ManifestTooLarge          a manifest over the limit
    │   └── BlobTooLarge              an upload over the limit
    ├── TooManyRequests               TOOMANYREQUESTS: too many open uploads (429)
    ├── Unsupported                   UNSUPPORTED: refused by policy (405)
    ├── Unauthorized                  UNAUTHORIZED: no valid credentials or scope (401)
    ├── Denied                        DENIED: authenticated, but not allowed (403)
    └── Conflict                      an account, organisation or token already exists (409)
"""

from __future__ import annotations

from typing import Any, ClassVar


class RegistryError(Exception):
    """Base of every error a registry operation can raise on purpose."""

    code: ClassVar[str] = "UNKNOWN"
    default_message: ClassVar[str] = "unknown error"

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)


class InvalidInput(RegistryError):
    code = "INVALID"


class NameInvalid(InvalidInput):
    code = "NAME_INVALID"
    default_message = "invalid repository name"


class DigestInvalid(InvalidInput):
    code = "DIGEST_INVALID"
    default_message = "provided digest did not match uploaded content"


class TagInvalid(InvalidInput):
    code = "TAG_INVALID"
    default_message = "invalid tag"


class ManifestInvalid(InvalidInput):
    code = "MANIFEST_INVALID"
    default_message = "manifest invalid"


class ManifestBlobUnknown(InvalidInput):
    code = "MANIFEST_BLOB_UNKNOWN"
    default_message = "manifest references a blob unknown to this repository"


class BlobUploadInvalid(InvalidInput):
    code = "BLOB_UPLOAD_INVALID"
    default_message = "blob upload invalid"


class SizeInvalid(InvalidInput):
    code = "SIZE_INVALID"
    default_message = "provided length did not match content length"


class PaginationNumberInvalid(InvalidInput):
    code = "PAGINATION_NUMBER_INVALID"
    default_message = "invalid number of results requested"


class TimestampInvalid(InvalidInput):
    code = "TIMESTAMP_INVALID"
    default_message = "invalid timestamp"


class NotFound(RegistryError):
    code = "NOT_FOUND"


class NameUnknown(NotFound):
    code = "NAME_UNKNOWN"
    default_message = "repository name not known to registry"


class BlobUnknown(NotFound):
    code = "BLOB_UNKNOWN"
    default_message = "blob unknown to registry"


class BlobUploadUnknown(NotFound):
    code = "BLOB_UPLOAD_UNKNOWN"
    default_message = "blob upload unknown to registry"


class ManifestUnknown(NotFound):
    code = "MANIFEST_UNKNOWN"
    default_message = "manifest unknown"


class TagUnknown(ManifestUnknown):
    default_message = "tag unknown: it has no history in this repository"


class RangeNotSatisfiable(RegistryError):
    code = "BLOB_UPLOAD_INVALID"
    default_message = "requested range not satisfiable"

    def __init__(
        self, message: str | None = None, detail: Any = None, *, size: int | None = None
    ) -> None:
        super().__init__(message, detail)
        self.size = size


class TooLarge(RegistryError):
    code = "SIZE_INVALID"
    default_message = "request body too large"


class ManifestTooLarge(TooLarge):
    default_message = "manifest too large"


class BlobTooLarge(TooLarge):
    default_message = "blob upload too large"


class TooManyRequests(RegistryError):
    code = "TOOMANYREQUESTS"
    default_message = "too many open upload sessions in this repository"


class Unsupported(RegistryError):
    code = "UNSUPPORTED"
    default_message = "the operation is unsupported"


class Unauthorized(RegistryError):
    """No valid credentials, or a token without the scopes the request needs.

    ``scopes`` are the scope strings the request needs (for the Bearer challenge);
    ``insufficient`` is true when a valid token was sent but lacks them.
    """

    code = "UNAUTHORIZED"
    default_message = "authentication required"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        *,
        scopes: tuple[str, ...] = (),
        insufficient: bool = False,
        basic: bool = False,
    ) -> None:
        super().__init__(message, detail)
        self.scopes = scopes
        self.insufficient = insufficient
        self.basic = basic


class Denied(RegistryError):
    code = "DENIED"
    default_message = "requested access to the resource is denied"


class Conflict(RegistryError):
    code = "CONFLICT"
    default_message = "already exists"
