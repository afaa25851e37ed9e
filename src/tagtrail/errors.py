"""The domain exception tree. One place (``tagtrail.api.errors``) turns these into HTTP, with
the code, status and default message of the entry each class names in ``error_codes``.

::

    RegistryError                     UNKNOWN (500): code, message, detail
    ├── InvalidInput                  INVALID: the request itself is malformed (400)
    │   ├── NameInvalid               NAME_INVALID
    │   ├── DigestInvalid             DIGEST_INVALID
    │   ├── TagInvalid                TAG_INVALID
    │   ├── ManifestInvalid           MANIFEST_INVALID
    │   ├── ManifestBlobUnknown       MANIFEST_BLOB_UNKNOWN
    │   ├── BlobUploadInvalid         BLOB_UPLOAD_INVALID
    │   ├── SizeInvalid               SIZE_INVALID
    │   ├── PaginationNumberInvalid   PAGINATION_NUMBER_INVALID
    │   └── TimestampInvalid          TIMESTAMP_INVALID
    ├── NotFound                      NOT_FOUND: the thing does not exist here (404)
    │   ├── NameUnknown               NAME_UNKNOWN
    │   ├── BlobUnknown               BLOB_UNKNOWN
    │   ├── BlobUploadUnknown         BLOB_UPLOAD_UNKNOWN
    │   └── ManifestUnknown           MANIFEST_UNKNOWN
    │       └── TagUnknown            MANIFEST_UNKNOWN: a tag with no history
    ├── RangeNotSatisfiable           RANGE_NOT_SATISFIABLE: out-of-order chunk, bad Range (416)
    ├── TooLarge                      TOO_LARGE: a body over its limit (413)
    │   ├── ManifestTooLarge          TOO_LARGE: a manifest
    │   └── BlobTooLarge              TOO_LARGE: an upload
    ├── TooManyRequests               TOOMANYREQUESTS: too many open uploads (429)
    ├── Unsupported                   UNSUPPORTED: refused by policy (405)
    ├── Conflict                      CONFLICT: an account, organisation or token exists (409)
    │   └── TagImmutable              TAG_IMMUTABLE: an immutable-tag rule refuses the move
    ├── Unauthorized                  UNAUTHORIZED: no valid credentials or scope (401)
    └── Denied                        DENIED: authenticated, but not allowed (403)

The second column is the class's entry in ``error_codes`` (tests/unit/test_errors.py holds
this drawing to the classes). Errors of one use live with it and name their entries the same
way: ``ScopeInvalid`` (auth), ``SettingInvalid`` (accounts), ``TokenRequestInvalid`` and
``SlowClient`` (api).
"""

from __future__ import annotations

from typing import Any, ClassVar

from tagtrail import error_codes
from tagtrail.error_codes import ErrorCode


class RegistryError(Exception):
    """Base of every error a registry operation can raise on purpose."""

    error_code: ClassVar[ErrorCode] = error_codes.UNKNOWN
    default_message: ClassVar[str | None] = None  # None: the entry's message

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        self.message = message or self.default_message or self.error_code.message
        self.detail = detail
        super().__init__(self.message)

    @property
    def code(self) -> str:
        return self.error_code.code

    @property
    def status(self) -> int:
        return self.error_code.status


class InvalidInput(RegistryError):
    error_code = error_codes.INVALID


class NameInvalid(InvalidInput):
    error_code = error_codes.NAME_INVALID


class DigestInvalid(InvalidInput):
    error_code = error_codes.DIGEST_INVALID


class TagInvalid(InvalidInput):
    error_code = error_codes.TAG_INVALID


class ManifestInvalid(InvalidInput):
    error_code = error_codes.MANIFEST_INVALID


class ManifestBlobUnknown(InvalidInput):
    error_code = error_codes.MANIFEST_BLOB_UNKNOWN


class BlobUploadInvalid(InvalidInput):
    error_code = error_codes.BLOB_UPLOAD_INVALID


class SizeInvalid(InvalidInput):
    error_code = error_codes.SIZE_INVALID


class PaginationNumberInvalid(InvalidInput):
    error_code = error_codes.PAGINATION_NUMBER_INVALID


class TimestampInvalid(InvalidInput):
    error_code = error_codes.TIMESTAMP_INVALID


class NotFound(RegistryError):
    error_code = error_codes.NOT_FOUND


class NameUnknown(NotFound):
    error_code = error_codes.NAME_UNKNOWN


class BlobUnknown(NotFound):
    error_code = error_codes.BLOB_UNKNOWN


class BlobUploadUnknown(NotFound):
    error_code = error_codes.BLOB_UPLOAD_UNKNOWN


class ManifestUnknown(NotFound):
    error_code = error_codes.MANIFEST_UNKNOWN


class TagUnknown(ManifestUnknown):
    default_message = "tag unknown: it has no history in this repository"


class RangeNotSatisfiable(RegistryError):
    error_code = error_codes.RANGE_NOT_SATISFIABLE

    def __init__(
        self, message: str | None = None, detail: Any = None, *, size: int | None = None
    ) -> None:
        super().__init__(message, detail)
        self.size = size


class TooLarge(RegistryError):
    error_code = error_codes.TOO_LARGE


class ManifestTooLarge(TooLarge):
    default_message = "manifest too large"


class BlobTooLarge(TooLarge):
    default_message = "blob upload too large"


class TooManyRequests(RegistryError):
    error_code = error_codes.TOOMANYREQUESTS


class Unsupported(RegistryError):
    error_code = error_codes.UNSUPPORTED


class Unauthorized(RegistryError):
    """No valid credentials, or a token without the scopes the request needs.

    ``scopes`` are the scope strings the request needs (for the Bearer challenge);
    ``insufficient`` is true when a valid token was sent but lacks them.
    """

    error_code = error_codes.UNAUTHORIZED

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
    error_code = error_codes.DENIED


class Conflict(RegistryError):
    error_code = error_codes.CONFLICT


class TagImmutable(Conflict):
    error_code = error_codes.TAG_IMMUTABLE
