"""A mirrored tag's history page says what is known of when each record happened: a move seen
on the upstream "between" the check before it and the one that saw it ("seen" when no check
came before), and a record of the upstream's own history as "imported from" the upstream."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from tagtrail.meta.schema import repositories, tag_history
from tagtrail.times import format_timestamp
from tests.api.helpers import Pushed, push_image
from tests.auth.cli import admin
from tests.ui.conftest import PUBLIC_ORG, UiWorld
from tests.ui.helpers import unique

HOUR_MS = 3_600_000
BASE_MS = int(datetime(2025, 1, 1, 8, tzinfo=UTC).timestamp() * 1000)
TAG_CELL = re.compile(r'<td class="when" data-origin="([a-z]*)">(.*?)</td>', re.S)


def seed(
    data_dir: Path, name: str, tag: str, records: list[tuple[int, Pushed, str | None, int | None]]
) -> None:
    """``tag``'s records (time, manifest, action, previous check) as mirrors write them,
    straight into the server's database (the repository made when it is not there)."""
    engine = sa.create_engine(f"sqlite:///{data_dir / 'tagtrail.db'}")
    try:
        with engine.begin() as conn:
            repo_id = conn.scalar(sa.select(repositories.c.id).where(repositories.c.name == name))
            if repo_id is None:
                conn.execute(repositories.insert().values(name=name, created_ms=BASE_MS))
                repo_id = conn.scalar(
                    sa.select(repositories.c.id).where(repositories.c.name == name)
                )
            conn.execute(
                tag_history.insert(),
                [
                    {
                        "repository_id": repo_id,
                        "tag": tag,
                        "ts_ms": ts_ms,
                        "digest": pushed.digest,
                        "event": "created",
                        "media_type": "" if action == "import" else pushed.media_type,
                        "size": 0 if action == "import" else len(pushed.body),
                        "action": action,
                        "previous_check_ms": previous,
                    }
                    for ts_ms, pushed, action, previous in records
                ],
            )
    finally:
        engine.dispose()


def cells(http: httpx.Client, name: str, tag: str) -> list[tuple[str, str]]:
    """(origin, text) of the "Became current" cell of each row, newest first."""
    page = http.get(f"/repo/{name}/-/tag/{tag}")
    assert page.status_code == 200, page.text
    return [
        (origin, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text)).strip())
        for origin, text in TAG_CELL.findall(page.text)
    ]


def stamp(ms: int) -> str:
    return format_timestamp(ms)


def test_mirrored_moves_read_between_two_checks(ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        old, new, pushed = (push_image(http, name) for _ in range(3))
        push_image(http, name, "pushed")
    seed(
        ui.server.data_dir,
        name,
        "v1",
        [
            (BASE_MS, old, "import", None),
            (BASE_MS + 3 * HOUR_MS, new, "mirror", BASE_MS + 2 * HOUR_MS),
        ],
    )
    seed(ui.server.data_dir, name, "first", [(BASE_MS, pushed, "mirror", None)])
    with httpx.Client(base_url=ui.url, timeout=30) as http:
        assert cells(http, name, "v1") == [
            (
                "mirror",
                f"between {stamp(BASE_MS + 2 * HOUR_MS)} and {stamp(BASE_MS + 3 * HOUR_MS)}"
                " mirrored",
            ),
            ("import", f"{stamp(BASE_MS)} imported"),
        ]
        assert cells(http, name, "first") == [("mirror", f"seen {stamp(BASE_MS)} mirrored")]
        # A pushed record reads as before: its time alone.
        [(origin, text)] = cells(http, name, "pushed")
        assert origin == "" and re.fullmatch(r"\S+Z", text)
        # The timeline marks say it too (their accessible names).
        page = http.get(f"/repo/{name}/-/tag/v1").text
        assert (
            f'aria-label="moved to {new.digest} between {stamp(BASE_MS + 2 * HOUR_MS)} and '
            f'{stamp(BASE_MS + 3 * HOUR_MS)}"' in page
        )
        assert (
            f'aria-label="created pointing to {old.digest} at {stamp(BASE_MS)} (imported)"' in page
        )
        # The imported record's manifest was never fetched: its kind is not known.
        kinds = re.findall(r'<td><span title="([^"]*)">([^<]*)</span></td>', page)
        assert kinds == [(new.media_type, "image"), ("", "—")]


def test_imported_records_name_the_upstream(ui: UiWorld) -> None:
    """Under a mirror's prefix, an imported record says which upstream it came from."""
    prefix = f"mir{uuid.uuid4().hex[:6]}"
    # The UI's own server serves as the upstream: registering checks that it answers.
    admin(ui.server.data_dir, "mirror", "add", prefix, ui.url)
    admin(ui.server.data_dir, "org", "visibility", prefix, "public")
    source = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        image = push_image(http, source)
    name = f"{prefix}/library/alpine"
    seed(ui.server.data_dir, name, "3", [(BASE_MS, image, "import", None)])
    wanted = [("import", f"{stamp(BASE_MS)} imported from {ui.url}")]
    # The workers read the registered mirrors again every 2 s: poll until they did.
    deadline = time.monotonic() + 15
    with httpx.Client(base_url=ui.url, timeout=30) as http:
        while (found := cells(http, name, "3")) != wanted and time.monotonic() < deadline:
            time.sleep(0.2)
    assert found == wanted
