"""Typed settings: flags > environment (``TAGTRAIL_*``) > TOML file > defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    SerializationInfo,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tagtrail.times import parse_duration

CONFIG_ENV = "TAGTRAIL_CONFIG"
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest multipart part (but the last)


REVEAL = {"reveal_secrets": True}  # model_dump(mode="json", context=REVEAL): secrets as they are


def _revealed(value: SecretStr, info: SerializationInfo) -> str | SecretStr:
    """A secret in JSON output: masked (pydantic's ``**********``) unless the dump was asked
    for with ``context=REVEAL``, as the settings handed to the server's workers are."""
    context = info.context
    if isinstance(context, dict) and context.get("reveal_secrets"):
        return value.get_secret_value()
    return value


class S3Settings(BaseModel):
    """S3-compatible object storage (AWS S3, MinIO, Ceph RGW, GCS interoperability).

    Credentials default to the standard AWS chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...).
    """

    model_config = {"extra": "forbid"}

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    redirect: bool = Field(True, description="GET answers 307 to a presigned URL")
    presign_seconds: int = Field(300, ge=10, le=7 * 86_400)
    part_size: int = Field(8 * 1024 * 1024, ge=MIN_PART_SIZE)

    @field_serializer("secret_access_key", when_used="json-unless-none")
    def _reveal_secret(self, value: SecretStr, info: SerializationInfo) -> str | SecretStr:
        return _revealed(value, info)


class MirrorSettings(BaseModel):
    """One ``[[mirrors]]`` table: an upstream registered (or updated) under ``prefix`` at start,
    as ``tagtrail admin mirror add`` does. ``check_interval``: seconds, or a duration ("5m")."""

    model_config = {"extra": "forbid"}

    prefix: str
    url: str
    username: str | None = None
    password: SecretStr | None = None
    check_interval: int = Field(60, ge=1)

    @field_validator("check_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if not isinstance(value, str) or value.isdigit():
            return value
        try:
            return int(parse_duration(value).total_seconds())
        except OverflowError as exc:  # ValueError: pydantic reports it as it is
            raise ValueError(str(exc)) from exc

    @model_validator(mode="after")
    def _both_or_neither(self) -> MirrorSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("a mirror takes a username and a password, or neither")
        return self

    @field_serializer("password", when_used="json-unless-none")
    def _reveal_secret(self, value: SecretStr, info: SerializationInfo) -> str | SecretStr:
        return _revealed(value, info)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TAGTRAIL_", env_nested_delimiter="__", extra="forbid"
    )

    listen: str = Field("127.0.0.1:5000", description="host:port to listen on")
    data_dir: Path = Field(Path("tagtrail-data"), description="embedded storage directory")
    external_url: str | None = Field(
        None, description="URL clients reach this registry at (for Location and Link headers)"
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the metadata store (its password is why it is secret); "
        "default: SQLite in data_dir",
    )
    blob_store: Literal["filesystem", "s3"] = Field(
        "filesystem", description="where blob bytes live: data_dir, or S3 ([s3] settings)"
    )
    s3: S3Settings | None = None
    migrate_on_start: bool = Field(
        True, description="apply schema migrations when the server starts"
    )
    protect_history: bool = Field(
        False, description="refuse DELETE by digest for digests that a tag history names"
    )
    allow_nondistributable_artifacts: bool = Field(
        True,
        description="accept manifests whose non-distributable layers (with urls) were not "
        "pushed; off: every layer must be pushed",
    )
    workers: int = Field(1, ge=1, description="server worker processes")
    auth: bool = Field(True, description="require tokens (Docker registry token protocol)")
    service: str | None = Field(
        None, description="token service name (the audience); default: the external URL's host"
    )
    token_issuer: str = Field("tagtrail", description="iss claim of issued tokens")
    token_ttl_seconds: int = Field(300, ge=30, le=86_400)
    refresh_ttl_seconds: int = Field(90 * 86_400, ge=60)
    token_key: Path | None = Field(
        None, description="PEM private key that signs tokens; default: <data_dir>/keys"
    )
    token_verify_keys: list[Path] = Field(
        default_factory=list, description="more PEM keys whose tokens verify (rotation)"
    )
    admin_password: SecretStr | None = Field(
        None, description="password of the admin user created on first start"
    )
    mirrors: list[MirrorSettings] = Field(
        default_factory=list, description="upstreams mirrored under a prefix ([[mirrors]])"
    )
    mirror_requests_per_second: float = Field(
        10.0,
        gt=0,
        description="most requests a second the watches of one worker send to upstreams",
    )
    webhook_retry_seconds: float = Field(
        10.0,
        gt=0,
        description="wait after a webhook delivery's first failed attempt; doubled after "
        "each further one, up to an hour",
    )
    webhook_give_up_seconds: float = Field(
        86_400.0, gt=0, description="a webhook delivery failing this long is failed for good"
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="longest wait for a webhook receiver's answer"
    )
    history_retention_days: int | None = Field(
        None, ge=1, description="gc keeps what history records of this many days name; None: all"
    )
    gc_grace_seconds: int = Field(
        3600, ge=0, description="gc never removes blob links or manifests younger than this"
    )
    upload_expiry_seconds: int = Field(
        86_400, ge=1, description="upload sessions older than this are refused and collected"
    )
    max_uploads_per_repository: int = Field(1000, ge=1, description="open upload sessions")
    max_manifest_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="manifest body size")
    max_upload_bytes: int = Field(16 * 1024**3, ge=1, description="size of one blob upload")
    blob_cache_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="memory per worker for small blobs (64 KiB or less) served from memory; "
        "0: none",
    )
    pull_answer_bytes: int = Field(
        8 * 1024 * 1024,
        ge=0,
        description="memory per worker for answers to repeated pulls, given again while "
        "nothing stored changes (SQLite only); 0: none",
    )
    max_header_bytes: int = Field(
        256 * 1024, ge=8192, description="HTTP/1 read buffer, which bounds request headers"
    )
    header_timeout_seconds: int = Field(
        30,
        ge=1,
        description="time to send request headers, counted from connect or from the last "
        "response: also closes idle and silent connections",
    )
    body_timeout_seconds: int = Field(
        60, ge=1, description="longest wait for the next piece of a request body (slow clients)"
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="how much the server logs"
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="server log lines: one JSON object each, or plain text"
    )
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="networks whose callers may read /metrics (others get a 404)",
    )

    @field_serializer("database_url", "admin_password", when_used="json-unless-none")
    def _reveal_secrets(self, value: SecretStr, info: SerializationInfo) -> str | SecretStr:
        return _revealed(value, info)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("metrics_allow")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"metrics_allow: {network!r} is not a network") from exc
        return value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("listen must be host:port")
        return value

    @field_validator("external_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _one_mirror_a_prefix(self) -> Settings:
        prefixes = [mirror.prefix for mirror in self.mirrors]
        repeated = sorted({p for p in prefixes if prefixes.count(p) > 1})
        if repeated:
            raise ValueError(f"mirrors: prefix {', '.join(repeated)} given more than once")
        return self

    @model_validator(mode="after")
    def _s3_needs_settings(self) -> Settings:
        if self.blob_store == "s3" and self.s3 is None:
            raise ValueError("blob_store = s3 needs the [s3] settings (bucket at least)")
        return self

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def service_name(self) -> str:
        if self.service:
            return self.service
        if self.external_url:
            return self.external_url.split("://", 1)[-1].split("/", 1)[0]
        return "tagtrail"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def metadata_url(self) -> str:
        if self.database_url:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'tagtrail.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and config file, with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def validation_message(exc: ValidationError, flags: Mapping[str, str]) -> str:
    """``exc`` in one line, each problem named by where its value came from: the flag in
    ``flags`` (field -> flag given), else the TAGTRAIL_* variable set, else the config file."""
    problems = []
    set_variables = {name.upper() for name in os.environ}
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        reason = error["msg"].removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
        if not loc:  # a check across settings (model validator): the reason says which
            problems.append(reason)
            continue
        value = _shown(loc, error["input"]) if error["type"] != "missing" else ""
        # TAGTRAIL_S3__BUCKET, or TAGTRAIL_S3 holding JSON
        variables = ("TAGTRAIL_" + "__".join(loc[:n]).upper() for n in range(len(loc), 0, -1))
        variable = next((v for v in variables if v in set_variables), None)
        if loc[0] in flags:
            source = f"{flags[loc[0]]} {value}"
        elif variable is not None:
            leaf = variable.endswith(loc[-1].upper())
            source = f"{variable}={value}" if leaf else f"{variable} ({'.'.join(loc)})"
        elif os.environ.get(CONFIG_ENV):
            shown = "" if value == "" else f" = {value}"
            source = f"{'.'.join(loc)}{shown} in {os.environ[CONFIG_ENV]}"
        else:
            source = ".".join(loc)
        problems.append(f"{source.rstrip()}: {reason}")
    return "; ".join(problems)


def _shown(loc: list[str], value: Any) -> str:
    """A rejected value as it may be printed: scalars only (a table may hold credentials),
    and never a secret's: a SecretStr setting's, or one whose name says it is one (a
    misspelt setting, which no type describes)."""
    if _secret(loc) or any("secret" in part or "password" in part for part in loc):
        return "(hidden)"
    if isinstance(value, str):
        return value
    return repr(value) if isinstance(value, int | float | bool) else ""


def _secret(loc: list[str]) -> bool:
    """Whether the setting at ``loc`` is a SecretStr, or a table that holds one (its value
    as a whole, a JSON string, say, would show the secret)."""
    model: type[BaseModel] = Settings
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return False
        kinds = get_args(field.annotation) or (field.annotation,)
        if SecretStr in kinds:
            return True
        tables = [k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)]
        if not tables:
            return False
        model = tables[0]
    return model is not Settings and any(
        SecretStr in (get_args(f.annotation) or (f.annotation,))
        for f in model.model_fields.values()
    )
