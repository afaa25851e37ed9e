"""What the history says and how the pages lay out, in real headless Chromium: "created",
"moved", returns and deletions; a timeline that labels its marks and keeps close ones apart;
one meaning of "size" on every page; and pages that hold up on a 420 px wide screen.

The narrow-screen test saves a screenshot of each page under test-artifacts/ui/narrow-*.png.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Page, expect

from tagtrail.ui.present import human_size
from tests.api.helpers import (
    OCI_INDEX,
    Pushed,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    random_bytes,
    sha256,
)
from tests.ui.conftest import ARTIFACTS, PUBLIC_ORG, UiWorld
from tests.ui.helpers import seed_history, unique

HOUR_MS = 3_600_000
BASE_MS = int(datetime(2025, 1, 1, 8, tzinfo=UTC).timestamp() * 1000)

# Each timeline mark's shape and label boxes, in page pixels, oldest first.
MARK_BOXES = """() => Array.from(document.querySelectorAll("#timeline a.mark")).map((mark) => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, text: el.textContent}; };
  return {
    shape: box(mark.querySelector("circle, rect")),
    labels: Array.from(mark.querySelectorAll("text.label")).map(box),
    kind: mark.getAttribute("class"),
    name: mark.getAttribute("aria-label"),
  };
})"""

# What breaks a narrow page: digests or times that may wrap (or do), and anything reaching past
# the right edge of the viewport outside a box that scrolls sideways on its own.
NARROW_PROBLEMS = """() => {
  const wrapping = [];
  for (const el of document.querySelectorAll("main .digest, main time")) {
    const lines = el.getClientRects().length;
    if (getComputedStyle(el).whiteSpace !== "nowrap" || lines !== 1) {
      wrapping.push(el.outerHTML.slice(0, 100));
    }
  }
  const escaping = [];
  for (const el of document.querySelectorAll("main *")) {
    if (el.closest(".scroll")) continue;
    if (el.getBoundingClientRect().right > window.innerWidth + 0.5) {
      escaping.push(el.outerHTML.slice(0, 100));
    }
  }
  const boxes = Array.from(document.querySelectorAll("main .scroll")).map((box) => ({
    right: box.getBoundingClientRect().right, scrolls: box.scrollWidth > box.clientWidth,
    overflow: getComputedStyle(box).overflowX, id: (box.querySelector("[id]") || box).id,
  }));
  return {
    pageWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
    wrapping, escaping, boxes,
  };
}"""


def rows_of(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.locator("#history tr.record").evaluate_all(
        "rows => rows.map(r => ({digest: r.dataset.digest, change: r.dataset.change,"
        " returned: r.dataset.returned, event: r.querySelector('td.event').innerText.trim()}))"
    )
    return rows


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def test_history_reads_created_moved_returned_and_deleted(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        first = push_image(http, name, "app")
        second = push_image(http, name, "app")
        push_manifest(http, name, "app", first.body)  # rolled back
        assert http.delete(f"/v2/{name}/manifests/app").status_code == 202
        push_manifest(http, name, "app", first.body)  # restored
        third = push_image(http, name, "app")
    page.goto(f"/repo/{name}/-/tag/app")
    a, b, c = first.digest, second.digest, third.digest
    assert rows_of(page) == [
        {"digest": c, "change": "moved", "returned": "false", "event": "moved"},
        {"digest": a, "change": "created", "returned": "true", "event": "created returned"},
        {"digest": a, "change": "deleted", "returned": "false", "event": "deleted"},
        {"digest": a, "change": "moved", "returned": "true", "event": "moved returned"},
        {"digest": b, "change": "moved", "returned": "false", "event": "moved"},
        {"digest": a, "change": "created", "returned": "false", "event": "created"},
    ]
    marks = page.evaluate(MARK_BOXES)
    assert [m["kind"] for m in marks] == [
        "mark created",
        "mark created",
        "mark returned",
        "mark deleted",
        "mark returned",
        "mark created",
    ]
    assert marks[0]["name"].startswith(f"created pointing to {a} at ")
    assert marks[2]["name"].startswith(f"moved back to {a} at ")
    assert marks[3]["name"].startswith(f"deleted from {a} at ")
    assert marks[4]["name"].startswith(f"created pointing back to {a} at ")
    expect(page.locator(".legend")).to_contain_text("returned")


def test_timeline_labels_marks_and_keeps_close_ones_apart(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        a, b, c, d = (push_image(http, name, "scratch") for _ in range(4))
    # Four moves within 3 ms, then three an hour apart: the first four share one instant on
    # any linear axis 1000 px wide, and the span is 3 hours, so labels read HH:MM.
    moves: list[tuple[int, Pushed]] = [
        (BASE_MS, a),
        (BASE_MS + 1, b),
        (BASE_MS + 2, c),
        (BASE_MS + 3, d),
        (BASE_MS + HOUR_MS, a),
        (BASE_MS + 2 * HOUR_MS, b),
        (BASE_MS + 3 * HOUR_MS, d),
    ]
    seed_history(ui.server.data_dir, name, "spread", moves)
    page.goto(f"/repo/{name}/-/tag/spread")
    marks = page.evaluate(MARK_BOXES)
    assert len(marks) == len(moves)
    # Close marks are apart: no two shapes touch, and they keep their order.
    shapes = [m["shape"] for m in marks]
    for left, right in itertools.pairwise(shapes):
        assert right["left"] - left["right"] >= 2, (left, right)
    # Marks between the ends carry labels (short digest above, time below), none overlapping.
    labelled = [m for m in marks if m["labels"]]
    assert marks[0]["labels"] and marks[-1]["labels"]
    assert len(labelled) >= 5, labelled
    boxes = [label for m in marks for label in m["labels"]]
    for index, box in enumerate(boxes):
        assert not any(overlap(box, other) for other in boxes[index + 1 :]), box
    texts = [[label["text"] for label in m["labels"]] for m in marks]
    assert texts[-1] == [d.digest.removeprefix("sha256:")[:7], "11:00"]
    assert texts[0] == [a.digest.removeprefix("sha256:")[:7], "08:00"]
    assert texts[4] == [a.digest.removeprefix("sha256:")[:7], "09:00"]
    expect(page.locator(".range")).to_have_text(
        "From 2025-01-01T08:00:00.000Z to 2025-01-01T11:00:00.000Z"
    )
    # The first record of the tag reads "created", the later ones "moved", a return is marked.
    rows = rows_of(page)
    assert rows[-1]["event"] == "created"
    assert [r["event"] for r in rows[:-1]] == [
        "moved returned",
        "moved returned",
        "moved returned",
        "moved",
        "moved",
        "moved",
    ]


def test_size_means_the_same_on_every_page(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        single = push_image(http, name, "single", layers=2)
        shared = random_bytes(300)
        push_blob(http, name, shared)
        children = []
        for _ in range(2):
            config, own = random_bytes(40), random_bytes(200)
            push_blob(http, name, config)
            push_blob(http, name, own)
            body = image_manifest(config, [shared, own])
            children.append(push_manifest(http, name, sha256(body), body))
        multi = push_manifest(http, name, "multi", index_manifest(children), OCI_INDEX)
    document = json.loads(single.body)
    single_size = document["config"]["size"] + sum(layer["size"] for layer in document["layers"])
    child_size = 40 + 300 + 200
    expected = {
        "single": human_size(single_size),
        # Both platforms' configs and own layers, and the layer they share once.
        "multi": human_size(300 + 2 * (40 + 200)),
    }
    assert expected["multi"] != human_size(2 * child_size)
    page.goto(f"/repo/{name}")
    for tag, size in expected.items():
        expect(page.locator(f"#tags tr[data-tag='{tag}'] td.size")).to_have_text(size)
    expect(page.locator("main .note").first).to_contain_text("a layer they share counted once")
    for tag, pushed in (("single", single), ("multi", multi)):
        page.goto(f"/repo/{name}/-/tag/{tag}")
        expect(page.locator("#history tr.record td.size").first).to_have_text(expected[tag])
        page.goto(f"/repo/{name}/-/digest/{pushed.digest}")
        expect(page.locator("#size")).to_contain_text(f"{expected[tag]} (")
    for child in children:
        row = page.locator("#platforms tr", has_text=child.digest)
        expect(row.locator("td.size")).to_have_text(human_size(child_size))


def test_pages_hold_up_on_a_420px_screen(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        first = push_image(http, name, "latest", annotations={"org.example.long": "x" * 300})
        for _ in range(3):
            push_image(http, name, "latest")
        push_manifest(http, name, "latest", first.body)
        index = push_manifest(
            http, name, "multi", index_manifest([first, push_image(http, name)]), OCI_INDEX
        )
    page.set_viewport_size({"width": 420, "height": 900})
    paths = {
        "repositories": f"/?q={name.split('/')[1]}",
        "repository": f"/repo/{name}",
        "tag": f"/repo/{name}/-/tag/latest",
        "tag-at": f"/repo/{name}/-/tag/latest?at=2100-01-01T00:00:00Z",
        "digest": f"/repo/{name}/-/digest/{first.digest}",
        "index": f"/repo/{name}/-/digest/{index.digest}",
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, path in paths.items():
        page.goto(path)
        found = page.evaluate(NARROW_PROBLEMS)
        page.screenshot(path=str(ARTIFACTS / f"narrow-{label}.png"), full_page=True)
        assert found["pageWidth"] <= found["viewport"], (label, found)
        assert not found["escaping"], (label, found["escaping"])
        assert not found["wrapping"], (label, found["wrapping"])
        for box in found["boxes"]:
            assert box["right"] <= found["viewport"], (label, box)
            assert box["overflow"] == "auto", (label, box)
    # The history table scrolls in its own box, and what is off to the right is reachable.
    page.goto(paths["tag"])
    box = page.locator(".scroll", has=page.locator("#history"))
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    copy = page.locator("#history tr.record").first.get_by_role("button", name="Copy FROM line")
    copy.scroll_into_view_if_needed()
    copy.click()
    expect(page.locator("#copy-status")).to_contain_text("Copied FROM ")


def test_history_table_fits_a_desktop_screen(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        push_image(http, name, "latest")
        push_image(http, name, "latest")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/repo/{name}/-/tag/latest")
    box = page.locator(".scroll", has=page.locator("#history"))
    assert box.evaluate("b => b.scrollWidth <= b.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
