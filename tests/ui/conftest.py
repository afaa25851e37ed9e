"""The web UI under test: one auth-enabled registry, real headless Chromium through Playwright.

Chromium is Debian's (``/usr/bin/chromium``), driven with Playwright's ``executable_path``: the
tool's own browser download is never used. Each browser test saves a screenshot under
``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.auth.cli import PullToken, admin, parse_pull_token, token_args
from tests.server import RunningServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
ADMIN_PASSWORD = "ui-admin-" + "0f3c9a7e21"
PUBLIC_ORG = "pub"  # public organisation
PRIVATE_ORG = "priv"  # private organisation (the default visibility)


@dataclass(frozen=True)
class UiWorld:
    server: RunningServer
    pull_token: PullToken  # pull token of PRIVATE_ORG

    @property
    def url(self) -> str:
        return self.server.url

    def pusher(self) -> httpx.Client:
        """An API client signed in as the admin (Basic), for pushing and reading back."""
        return httpx.Client(base_url=self.url, auth=("admin", ADMIN_PASSWORD), timeout=30)


@pytest.fixture(scope="session")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiWorld]:
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    server = start_server(data_dir, "--auth", env={"TAGTRAIL_ADMIN_PASSWORD": ADMIN_PASSWORD})
    try:
        admin(data_dir, "org", "create", PUBLIC_ORG, "--visibility", "public")
        admin(data_dir, "org", "create", PRIVATE_ORG, "--visibility", "private")
        token = parse_pull_token(admin(data_dir, *token_args(PRIVATE_ORG)))
        yield UiWorld(server, token)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def playwright_instance(ui: UiWorld) -> Iterator[Playwright]:
    # Depends on ``ui``: its in-process admin commands run before Playwright's loop starts.
    # Package scope: Playwright's event loop counts as running while it is open, which would
    # stop the async tests of other packages (anyio) that run after these.
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install chromium"
    launched = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, ui: UiWorld, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the UI; screenshots itself after the test."""
    context = browser.new_context(base_url=ui.url, timezone_id="UTC", locale="en-GB")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.url)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()


def sign_in(page: Page, username: str, password: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto("/login")
    page.get_by_label("User name or pull token id").fill(username)
    page.get_by_label("Password or pull token secret").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
