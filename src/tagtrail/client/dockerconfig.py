"""Credentials the way docker finds them: ``$DOCKER_CONFIG/config.json`` (else
``~/.docker/config.json``), its ``credHelpers`` (per registry), ``credsStore`` (for all) and
``auths`` entries (``auth`` = base64 ``user:password``, or ``username``/``password``,
``identitytoken``, ``registrytoken``).

A helper is the program ``docker-credential-<name>`` on ``PATH``, spoken to as docker does:
``get`` reads the server address on stdin and prints ``{"ServerURL", "Username", "Secret"}``
(``Username`` ``<token>`` makes ``Secret`` an identity token), ``store`` reads that JSON,
``erase`` reads the address.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tagtrail.client.errors import CredentialsError

CONFIG_ENV = "DOCKER_CONFIG"
HELPER_PREFIX = "docker-credential-"
_IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 (docker's marker, not a secret)
_NOT_FOUND = "credentials not found"
_HELPER_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class Credentials:
    """What to present to a registry's token endpoint; ``source`` says where it came from."""

    username: str = ""
    password: str = ""
    identity_token: str | None = None
    registry_token: str | None = None
    source: str = ""

    @property
    def who(self) -> str:
        name = self.username if self.username and not self.identity_token else "identity token"
        return f"{name} (from {self.source})" if self.source else name


def config_path() -> Path:
    directory = os.environ.get(CONFIG_ENV)
    base = Path(directory) if directory else Path.home() / ".docker"
    return base / "config.json"


def _host_of(key: str) -> str:
    """docker's ConvertToHostname: ``https://host/v1/`` and ``host`` both name ``host``."""
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.partition("/")[0]


def _run_helper(
    name: str, action: str, payload: str, config: Path
) -> subprocess.CompletedProcess[str]:
    program = HELPER_PREFIX + name
    executable = shutil.which(program)
    if executable is None:
        raise CredentialsError(f"credential helper {program} is not on PATH (named in {config})")
    try:
        return subprocess.run(
            [executable, action],
            input=payload,
            capture_output=True,
            text=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CredentialsError(f"credential helper {program} {action} failed: {exc}") from exc


def _helper_failure(name: str, action: str, result: subprocess.CompletedProcess[str]) -> str:
    said = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return f"credential helper {HELPER_PREFIX}{name} {action} failed" + (
        f": {said[0]}" if said else f" (exit {result.returncode})"
    )


class DockerConfig:
    """A ``config.json``: read once, written back (other keys kept) by ``login``/``logout``."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path | None = None) -> DockerConfig:
        path = path or config_path()
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, {})
        except OSError as exc:
            raise CredentialsError(f"cannot read {path}: {exc.strerror}") from exc
        if not raw.strip():
            return cls(path, {})
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CredentialsError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CredentialsError(f"{path} is not a JSON object")
        return cls(path, data)

    # -- reading ----------------------------------------------------------------------------

    def _section(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    def helper_for(self, auth_key: str) -> str | None:
        """The credential helper for a registry: ``credHelpers`` first, then ``credsStore``."""
        helpers = self._section("credHelpers")
        host = _host_of(auth_key)
        for key in (auth_key, host):
            if isinstance(helpers.get(key), str) and helpers[key]:
                return str(helpers[key])
        store = self.data.get("credsStore")
        return store if isinstance(store, str) and store else None

    def _auths_entry(self, auth_key: str) -> tuple[str, dict[str, Any]] | None:
        auths = self._section("auths")
        if isinstance(auths.get(auth_key), dict):
            return auth_key, auths[auth_key]
        host = _host_of(auth_key)
        for key, entry in auths.items():
            if isinstance(entry, dict) and _host_of(key) == host:
                return key, entry
        return None

    def credentials(self, auth_key: str) -> Credentials | None:
        """Credentials for the registry whose key is ``auth_key`` (its host, or Docker Hub's
        ``https://index.docker.io/v1/``), or None to go anonymously."""
        helper = self.helper_for(auth_key)
        if helper is not None:
            found = self._from_helper(helper, auth_key)
            if found is not None:
                return found
        return self._from_auths(auth_key)

    def _from_helper(self, helper: str, auth_key: str) -> Credentials | None:
        result = _run_helper(helper, "get", auth_key, self.path)
        if result.returncode != 0:
            if _NOT_FOUND in (result.stdout + result.stderr).lower():
                return None
            raise CredentialsError(_helper_failure(helper, "get", result))
        try:
            answer = json.loads(result.stdout)
            username, secret = str(answer.get("Username", "")), str(answer["Secret"])
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise CredentialsError(
                f"credential helper {HELPER_PREFIX}{helper} get printed no credentials JSON"
            ) from exc
        source = f"{HELPER_PREFIX}{helper}"
        if username == _IDENTITY_TOKEN_USER:
            return Credentials(identity_token=secret, source=source)
        return Credentials(username, secret, source=source)

    def _from_auths(self, auth_key: str) -> Credentials | None:
        found = self._auths_entry(auth_key)
        if found is None:
            return None
        key, entry = found
        source = f"{self.path} auths[{key!r}]"
        username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
        encoded = entry.get("auth")
        if isinstance(encoded, str) and encoded:
            try:
                decoded = base64.b64decode(encoded, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise CredentialsError(f"{source}: 'auth' is not base64 of user:password") from exc
            username, sep, password = decoded.partition(":")
            if not sep:
                raise CredentialsError(f"{source}: 'auth' is not base64 of user:password")
        identity = entry.get("identitytoken")
        registry_token = entry.get("registrytoken")
        if isinstance(identity, str) and identity:
            return Credentials(username, password, identity_token=identity, source=source)
        if isinstance(registry_token, str) and registry_token:
            return Credentials(registry_token=registry_token, source=source)
        if not username and not password:
            return None
        return Credentials(username, password, source=source)

    # -- writing ----------------------------------------------------------------------------

    def store(self, auth_key: str, username: str, password: str) -> str:
        """Save credentials (in the registry's helper when one is configured); returns where."""
        helper = self.helper_for(auth_key)
        if helper is not None:
            payload = json.dumps({"ServerURL": auth_key, "Username": username, "Secret": password})
            result = _run_helper(helper, "store", payload, self.path)
            if result.returncode != 0:
                raise CredentialsError(_helper_failure(helper, "store", result))
            auths = self.data.setdefault("auths", {})
            if isinstance(auths, dict):
                auths.setdefault(auth_key, {})
            self.save()
            return f"{HELPER_PREFIX}{helper}"
        auths = self.data.setdefault("auths", {})
        if not isinstance(auths, dict):
            raise CredentialsError(f"{self.path}: 'auths' is not an object")
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
        existing = self._auths_entry(auth_key)
        auths[existing[0] if existing else auth_key] = {"auth": encoded}
        self.save()
        return str(self.path)

    def erase(self, auth_key: str) -> bool:
        """Remove the registry's credentials; False when there were none."""
        removed = False
        helper = self.helper_for(auth_key)
        if helper is not None:
            result = _run_helper(helper, "erase", auth_key, self.path)
            if result.returncode == 0:
                removed = True
            elif _NOT_FOUND not in (result.stdout + result.stderr).lower():
                raise CredentialsError(_helper_failure(helper, "erase", result))
        auths = self._section("auths")
        while (found := self._auths_entry(auth_key)) is not None:
            del auths[found[0]]
            removed = True
        if removed:
            self.save()
        return removed

    def save(self) -> None:
        """Write atomically, readable by the owner only (it holds secrets)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, indent="\t") + "\n"
        handle, temporary = tempfile.mkstemp(prefix=".config.json.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except OSError as exc:
            Path(temporary).unlink(missing_ok=True)
            raise CredentialsError(f"cannot write {self.path}: {exc.strerror}") from exc
