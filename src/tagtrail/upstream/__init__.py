"""A client of an upstream OCI registry, for mirrors: what watches and pull-through ask of it.

It sits beside meta and blobs (it knows HTTP and the distribution API, nothing of tagtrail's
store), so the registry can use it and it can use none of the layers above.
"""

from tagtrail.upstream.client import BlobStream, ManifestBody, ManifestHead, Upstream
from tagtrail.upstream.errors import (
    UpstreamError,
    UpstreamInvalid,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from tagtrail.upstream.history import UpstreamMove
from tagtrail.upstream.names import is_docker_hub, upstream_repository

__all__ = [
    "BlobStream",
    "ManifestBody",
    "ManifestHead",
    "Upstream",
    "UpstreamError",
    "UpstreamInvalid",
    "UpstreamMove",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamUnauthorized",
    "UpstreamUnavailable",
    "is_docker_hub",
    "upstream_repository",
]
