"""Image references (``[scheme://]host[:port]/name[:tag][@digest]``) and registry endpoints.

The grammar is docker's: the first path component is a registry host when it holds a ``.`` or
a ``:`` or is ``localhost``; otherwise the reference is on Docker Hub (``docker.io``), where a
single-component name lives under ``library/``. A loopback registry is asked over HTTPS
first and over plain HTTP when that is all it speaks (see ``schemes``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tagtrail.client.errors import UsageError
from tagtrail.errors import RegistryError
from tagtrail.types import Digest, parse_name, parse_tag

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API})
_SCHEMES = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed image reference. ``registry`` is the host as written (``docker.io`` by
    default). (The tag-or-digest in a manifest URL is ``tagtrail.registry.manifests.Reference``.)"""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    scheme: str | None = None  # "http" or "https" when the reference spelled it out

    @property
    def tag_or_latest(self) -> str:
        return self.tag or "latest"

    @property
    def repository_ref(self) -> str:
        """``host/name``: what ``auth token`` and error messages name."""
        return f"{self.registry}/{self.repository}"

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag, None, self.scheme)

    def __str__(self) -> str:
        text = self.repository_ref
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _is_host(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def parse_reference(text: str, *, require_tag: bool = False) -> ImageReference:
    """Parse ``text``; raises UsageError naming what is wrong."""
    raw = text.strip()
    scheme: str | None = None
    for prefix in _SCHEMES:
        if raw.startswith(prefix):
            scheme, raw = prefix[:-3], raw[len(prefix) :]
    if not raw:
        raise UsageError(f"invalid reference {text!r}: it is empty")
    remainder, at, digest_text = raw.partition("@")
    digest: str | None = None
    if at:
        try:
            digest = str(Digest.parse(digest_text))
        except RegistryError as exc:
            raise UsageError(f"invalid reference {text!r}: bad digest {digest_text!r}") from exc
    first, slash, rest = remainder.partition("/")
    if slash and _is_host(first):
        registry, path = first, rest
    elif scheme is not None:
        raise UsageError(f"invalid reference {text!r}: no registry host after the scheme")
    else:
        registry, path = DOCKER_HUB, remainder
    name = path
    tag: str | None = None
    if ":" in path:
        name, _, tag_text = path.rpartition(":")
        try:
            tag = parse_tag(tag_text)
        except RegistryError as exc:
            raise UsageError(f"invalid reference {text!r}: bad tag {tag_text!r}") from exc
    if registry in _HUB_ALIASES and "/" not in name:
        name = f"library/{name}"
    try:
        repository = parse_name(name)
    except RegistryError as exc:
        raise UsageError(
            f"invalid reference {text!r}: bad repository name {name!r} "
            "(lowercase letters, digits and separators)"
        ) from exc
    if require_tag and digest is not None and tag is None:
        raise UsageError(f"invalid reference {text!r}: it names a digest, this needs a tag")
    return ImageReference(registry, repository, tag, digest, scheme)


def is_loopback(registry: str) -> bool:
    """Whether ``host[:port]`` is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = registry
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a registry's API is: scheme and host, and the key its credentials are under.
    ``fallback``: HTTPS that may turn out to be plain HTTP (a loopback host, no scheme given)."""

    scheme: str
    host: str
    auth_key: str
    fallback: bool = False

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def endpoint_for(registry: str, *, scheme: str | None = None, plain_http: bool = False) -> Endpoint:
    """The API endpoint of ``registry``: the scheme given, else HTTP with ``plain_http``, else
    HTTPS, for a loopback host with a fallback to plain HTTP."""
    if registry in _HUB_ALIASES:
        return Endpoint(scheme or "https", DOCKER_HUB_API, DOCKER_HUB_AUTH_KEY)
    if scheme is not None:
        return Endpoint(scheme, registry, registry)
    if plain_http:
        return Endpoint("http", registry, registry)
    return Endpoint("https", registry, registry, fallback=is_loopback(registry))


def registry_host(text: str) -> tuple[str, str | None]:
    """The registry named by a ``login``/``logout`` argument (a host, a URL or a reference)
    and the scheme it spelled out, if any."""
    raw = text.strip()
    scheme: str | None = None
    for prefix in _SCHEMES:
        if raw.startswith(prefix):
            scheme, raw = prefix[:-3], raw[len(prefix) :]
    host = raw.partition("/")[0]
    if not host:
        raise UsageError(f"invalid registry {text!r}")
    return (DOCKER_HUB if host in _HUB_ALIASES else host), scheme
