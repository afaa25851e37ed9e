"""Repository names as Docker writes them, mapped to what an upstream calls them.

Docker Hub keeps official images under ``library/``: ``docker pull python`` asks for
``library/python``. A mirror of Docker Hub gets the short name from Docker (and from users who
write ``<prefix>/python``), so the one-part name must be expanded before it is sent upstream,
or Docker Hub answers 401 for a repository that does not exist.
"""

from __future__ import annotations

import httpx

# The names Docker Hub goes by; its API is served by the first.
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_HOSTS = frozenset({DOCKER_HUB_API, "docker.io", "index.docker.io"})


def is_docker_hub(url: str) -> bool:
    """Whether ``url`` (with or without a scheme) names Docker Hub."""
    host = httpx.URL(url if "://" in url else f"https://{url}").host
    return host.lower() in DOCKER_HUB_HOSTS


def api_url(url: str) -> str:
    """The base URL to send API requests to: https:// unless given, and Docker Hub's aliases
    (``docker.io``, ``index.docker.io``, which serve no /v2/) replaced by its API host."""
    parsed = httpx.URL(url if "://" in url else f"https://{url}")
    if parsed.host.lower() in DOCKER_HUB_HOSTS:
        parsed = parsed.copy_with(host=DOCKER_HUB_API, port=None)
    return str(parsed).rstrip("/")


def upstream_repository(url: str, name: str) -> str:
    """The upstream's name for repository ``name``: ``library/<name>`` for a one-part name on
    Docker Hub, ``name`` unchanged anywhere else."""
    if "/" not in name and is_docker_hub(url):
        return f"library/{name}"
    return name
