"""Settings that hold secrets (the database URL, the admin password, the S3 secret key) are
SecretStr: never printed with the settings or in their errors, yet handed to the server's
workers as they are."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from tagtrail.blobs.s3 import S3Driver
from tagtrail.cli.serve import _export
from tagtrail.config import CONFIG_ENV, S3Settings, Settings, load_settings, validation_message

DATABASE_URL = "postgresql://tagtrail:db-secret-1@db.example/tagtrail"
ADMIN_PASSWORD = "admin-secret-2"
S3_SECRET = "s3-secret-3"
SECRETS = ("db-secret-1", ADMIN_PASSWORD, S3_SECRET)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment of this test's own, without TAGTRAIL_* settings (serve's export writes
    to it)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    monkeypatch.setattr(os, "environ", environment)
    return environment


def _settings() -> Settings:
    return load_settings(
        database_url=DATABASE_URL,
        admin_password=ADMIN_PASSWORD,
        blob_store="s3",
        s3={"bucket": "b", "access_key_id": "AKIA-public", "secret_access_key": S3_SECRET},
    )


def test_secrets_are_never_printed_with_the_settings() -> None:
    settings = _settings()
    shown = (
        repr(settings),
        str(settings),
        repr(settings.s3),
        settings.model_dump_json(),
        str(settings.model_dump(mode="json")),
        str(settings.model_dump()),
    )
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, text
    assert "AKIA-public" in repr(settings)  # an access key id is not a secret
    # Their readers get them.
    assert settings.metadata_url == DATABASE_URL
    assert settings.admin_password is not None and settings.s3 is not None
    assert settings.admin_password.get_secret_value() == ADMIN_PASSWORD
    assert settings.s3.secret_access_key is not None
    assert settings.s3.secret_access_key.get_secret_value() == S3_SECRET


def test_settings_errors_never_show_a_secret(
    tmp_path: Path, clean_environment: dict[str, str]
) -> None:
    config = tmp_path / "secrets.toml"
    config.write_text(
        "database_url = 13571\nadmin_password = 24682\n"
        '[s3]\nbucket = "b"\nsecret_access_key = 35793\n'
    )
    clean_environment[CONFIG_ENV] = str(config)
    with pytest.raises(ValidationError) as refused:
        load_settings()
    message = validation_message(refused.value, {})
    for secret in ("13571", "24682", "35793"):
        assert secret not in message, message
    assert f"database_url = (hidden) in {config}: input should be a valid string" in message
    assert f"s3.secret_access_key = (hidden) in {config}" in message


def test_the_workers_get_the_secrets_as_they_are() -> None:
    settings = _settings()
    _export(settings)  # what serve hands its workers, through the environment
    worker = load_settings()
    assert worker.metadata_url == DATABASE_URL
    assert worker.s3 is not None and worker.s3.secret_access_key is not None
    assert worker.s3.secret_access_key.get_secret_value() == S3_SECRET
    assert worker.admin_password is None  # bootstrap's alone: never exported
    assert worker == settings.model_copy(update={"admin_password": None})


def test_the_s3_driver_signs_with_the_secret_itself() -> None:
    settings = S3Settings.model_validate(
        {
            "bucket": "b",
            "endpoint": "http://127.0.0.1:9",
            "access_key_id": "AKIA-public",
            "secret_access_key": S3_SECRET,
        }
    )

    async def signing_secret() -> str:
        driver = await S3Driver.open(settings)  # connects to nothing until asked
        try:
            credentials = driver._client._request_signer._credentials
            return str((await credentials.get_frozen_credentials()).secret_key)
        finally:
            await driver.close()

    assert asyncio.run(signing_secret()) == S3_SECRET
