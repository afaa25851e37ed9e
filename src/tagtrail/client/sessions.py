"""One session per registry host for a command, sharing one ``config.json``."""

from __future__ import annotations

from types import TracebackType

from tagtrail.client.dockerconfig import Credentials, DockerConfig
from tagtrail.client.reference import ImageReference, endpoint_for
from tagtrail.client.session import RegistrySession


class SessionPool:
    """``plain_http`` speaks HTTP to every registry (else loopback registries get HTTPS
    first and plain HTTP when that is all they speak); ``insecure`` skips TLS certificate
    verification."""

    def __init__(
        self,
        *,
        plain_http: bool = False,
        insecure: bool = False,
        config: DockerConfig | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.plain_http = plain_http
        self.insecure = insecure
        self.timeout = timeout
        self._config = config
        self._sessions: dict[tuple[str, str], RegistrySession] = {}

    def __enter__(self) -> SessionPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def config(self) -> DockerConfig:
        if self._config is None:
            self._config = DockerConfig.load()
        return self._config

    def for_registry(self, registry: str, scheme: str | None = None) -> RegistrySession:
        endpoint = endpoint_for(registry, scheme=scheme, plain_http=self.plain_http)
        key = (endpoint.scheme, endpoint.host)
        if key not in self._sessions:

            def credentials() -> Credentials | None:
                return self.config().credentials(endpoint.auth_key)

            self._sessions[key] = RegistrySession(
                endpoint, credentials, verify=not self.insecure, timeout=self.timeout
            )
        return self._sessions[key]

    def session(self, reference: ImageReference) -> RegistrySession:
        return self.for_registry(reference.registry, reference.scheme)

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
