"""A tag with 10,000 history records: its page renders the newest 100 and pages on."""

from __future__ import annotations

import time

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from tagtrail.meta.schema import repositories, tag_history
from tagtrail.times import format_timestamp
from tests.api.helpers import OCI_MANIFEST, push_image
from tests.ui.conftest import PUBLIC_ORG, UiWorld
from tests.ui.helpers import unique

RECORDS = 10_000


def test_ten_thousand_records_render_a_first_page(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        first = push_image(http, name, "busy")
        second = push_image(http, name, "busy")
    # Seed the history in the server's database directly: pushing 10,000 moves takes long.
    engine = sa.create_engine(f"sqlite:///{ui.server.data_dir / 'tagtrail.db'}")
    try:
        with engine.begin() as conn:
            repo_id = conn.scalar(sa.select(repositories.c.id).where(repositories.c.name == name))
            last = conn.scalar(
                sa.select(sa.func.max(tag_history.c.ts_ms)).where(
                    tag_history.c.repository_id == repo_id
                )
            )
            assert repo_id is not None and last is not None
            rows = [
                {
                    "repository_id": repo_id,
                    "tag": "busy",
                    "ts_ms": int(last) + 1000 * (n + 1),
                    "digest": (second if n % 2 else first).digest,
                    "event": "created",
                    "media_type": OCI_MANIFEST,
                    "size": len(first.body),
                }
                for n in range(RECORDS - 2)
            ]
            conn.execute(tag_history.insert(), rows)
    finally:
        engine.dispose()
    newest = rows[-1]["ts_ms"]
    assert isinstance(newest, int)
    started = time.monotonic()
    response = page.goto(f"/repo/{name}/-/tag/busy")
    elapsed = time.monotonic() - started
    assert response is not None and response.status == 200
    assert elapsed < 5, elapsed
    records = page.locator("#history tr.record")
    expect(records).to_have_count(100)
    expect(records.first).to_have_attribute("data-timestamp", format_timestamp(newest))
    expect(page.locator("#timeline a.mark")).to_have_count(100)
    page.locator("#older").click()
    expect(records).to_have_count(100)
    expect(records.first).to_have_attribute("data-timestamp", format_timestamp(newest - 100_000))
    # The page's newest record stayed until the oldest of the page before: 1 s apart.
    expect(records.first.locator("td.stayed")).to_have_text("1s")
    # The page's oldest record has older ones before it: it moved the tag, it did not create
    # it; and both digests pointed to before, so every record on the page is a return.
    expect(records.last).to_have_attribute("data-change", "moved")
    changes = records.evaluate_all("rows => rows.map(r => r.dataset.change + r.dataset.returned)")
    assert changes == ["movedtrue"] * 100
