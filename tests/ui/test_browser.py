"""The pages in real headless Chromium: listings, history, the time picker, copying, access,
escaping, and keyboard access. Each test leaves a screenshot in test-artifacts/ui/."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.api.helpers import (
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    descriptor,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    sha256,
)
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG, PUBLIC_ORG, UiWorld, sign_in
from tests.ui.helpers import api_history, datetime_local, parse_stamp, unique

# Every control a keyboard user must reach, and what needs an accessible name.
FOCUSABLE = (
    "a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex='-1'])"
)
NAMES_SCRIPT = """(selector) => {
  const nameOf = (el) => {
    const label = el.getAttribute("aria-label");
    if (label && label.trim()) return label.trim();
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map((n) => n.textContent.trim()).join(" ");
      if (text) return text;
    }
    if (el.labels && el.labels.length) return el.labels[0].textContent.trim();
    const text = (el.textContent || "").trim();
    if (text) return text;
    return (el.getAttribute("title") || el.getAttribute("alt") || "").trim();
  };
  return Array.from(document.querySelectorAll(selector)).map((el) => ({
    tag: el.tagName, html: el.outerHTML.slice(0, 120), name: nameOf(el),
  }));
}"""


def test_pushed_repository_appears(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        push_image(http, name, "latest")
        push_image(http, name, "v1")
    page.goto("/")
    row = page.locator(f"#repositories tr[data-name='{name}']")
    expect(row).to_be_visible()
    expect(row.locator("td").nth(1)).to_have_text("2")
    # The search box filters as one types.
    page.get_by_label("Search repositories").fill(name.split("/")[1])
    expect(row).to_be_visible()
    expect(page.locator("#repositories tbody tr:visible")).to_have_count(1)
    row.get_by_role("link", name=name).click()
    expect(page.locator("#tags tr[data-tag='latest']")).to_be_visible()
    expect(page.locator("#tags tr[data-tag='v1']")).to_contain_text("image")


def test_tag_page_lists_the_api_history_in_order(page: Page, ui: UiWorld) -> None:
    name = unique(PRIVATE_ORG)
    with ui.pusher() as http:
        first = push_image(http, name, "latest")
        push_image(http, name, "latest")
        assert http.delete(f"/v2/{name}/manifests/latest").status_code == 202
        push_manifest(http, name, "latest", first.body)
        children = (push_image(http, name), push_image(http, name))
        push_manifest(http, name, "latest", index_manifest(children), OCI_INDEX)
        expected = api_history(http, name, "latest")
    assert len(expected) == 5
    sign_in(page, "admin", ADMIN_PASSWORD)
    expect(page.locator("#signed-in-as")).to_have_text("admin")
    page.goto(f"/repo/{name}/-/tag/latest")
    rows = page.locator("#history tr.record")
    expect(rows).to_have_count(len(expected))
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.digest, r.dataset.event, r.dataset.timestamp])"
    )
    assert shown == [[r.digest, r.event, r.timestamp] for r in expected]
    # One timeline mark per record, each named by its digest and time.
    marks = page.locator("#timeline a.mark")
    expect(marks).to_have_count(len(expected))
    marks.first.focus()
    oldest = expected[-1]
    expect(page.locator("#timeline-detail")).to_have_text(
        f"created pointing to {oldest.digest} at {oldest.timestamp}"
    )
    # The index's platforms show on the repository page.
    page.goto(f"/repo/{name}")
    expect(page.locator("#tags tr[data-tag='latest']")).to_contain_text("linux/amd64")


def test_time_picker_answers_at_a_boundary(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        before = push_image(http, name, "latest")
        after = push_image(http, name, "latest")
        records = api_history(http, name, "latest")
    moved = parse_stamp(records[0].timestamp)
    assert records[0].digest == after.digest
    page.goto(f"/repo/{name}/-/tag/latest")
    cases = [
        (moved, after.digest),  # the instant of the move: the new digest
        (moved - timedelta(milliseconds=1), before.digest),  # just before: the old one
        (parse_stamp(records[1].timestamp) - timedelta(milliseconds=1), ""),  # not yet
    ]
    for moment, digest in cases:
        page.get_by_label("Time (UTC)").fill(datetime_local(moment))
        page.get_by_role("button", name="Show").click()
        answer = page.locator("#answer")
        expect(answer).to_have_attribute("data-digest", digest)
        if digest:
            expect(page.locator("#answer-digest")).to_have_text(digest)
        else:
            expect(answer).to_contain_text("did not exist yet")


def test_copy_button_yields_the_pinned_reference(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        pushed = push_image(http, name, "stable")
    pinned = f"{ui.server.host}/{name}:stable@{pushed.digest}"
    page.goto(f"/repo/{name}/-/tag/stable")
    row = page.locator(f"#history tr.record[data-digest='{pushed.digest}']")
    row.get_by_role("button", name=f"Copy pinned reference {pinned}").click()
    expect(page.locator("#copy-status")).to_have_text(f"Copied {pinned}")
    assert page.evaluate("navigator.clipboard.readText()") == pinned
    row.get_by_role("button", name=f"Copy FROM line for {pinned}").click()
    expect(page.locator("#copy-status")).to_have_text(f"Copied FROM {pinned}")
    assert page.evaluate("navigator.clipboard.readText()") == f"FROM {pinned}"


def test_anonymous_visitor_cannot_see_a_private_repository(page: Page, ui: UiWorld) -> None:
    name = unique(PRIVATE_ORG)
    with ui.pusher() as http:
        pushed = push_image(http, name, "latest")
    missing = unique(PRIVATE_ORG)
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Repositories")
    expect(page.locator(f"tr[data-name='{name}']")).to_have_count(0)
    for path in (
        f"/repo/{name}",
        f"/repo/{name}/-/tag/latest",
        f"/repo/{name}/-/digest/{pushed.digest}",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        expect(page.locator("h1")).to_have_text("Not found")
        hidden_body = page.locator("main").inner_text()
        response = page.goto(path.replace(name, missing))
        assert response is not None and response.status == 404
        assert page.locator("main").inner_text() == hidden_body  # same as a missing one
    # A pull token of the organisation signs in and sees it.
    sign_in(page, ui.pull_token.id, ui.pull_token.secret)
    page.goto(f"/?q={name.split('/')[1]}")
    expect(page.locator(f"tr[data-name='{name}']")).to_be_visible()
    response = page.goto(f"/repo/{name}/-/tag/latest")
    assert response is not None and response.status == 200
    # Signing out forgets it again.
    page.get_by_role("button", name="Sign out").click()
    response = page.goto(f"/repo/{name}")
    assert response is not None and response.status == 404


def test_annotation_holding_script_renders_as_text(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    with ui.pusher() as http:
        pushed = push_image(http, name, "latest", annotations={"note": hostile})
        config = b"{}"
        push_blob(http, name, config)
        sbom = image_manifest(
            config,
            config_type=OCI_EMPTY,
            subject=descriptor(OCI_MANIFEST, pushed.body),
            artifact_type="application/spdx+json",
            annotations={"org.example.note": hostile},
        )
        referrer = push_manifest(http, name, sha256(sbom), sbom)
    page.goto(f"/repo/{name}/-/digest/{pushed.digest}")
    expect(page.locator("#annotations .annotation-value")).to_have_text(hostile)
    expect(page.locator("#manifest")).to_contain_text("<script>window.__pwned = 1</script>")
    referrer_row = page.locator("#referrers tr", has_text=referrer.digest)
    expect(referrer_row).to_contain_text("application/spdx+json")
    expect(referrer_row).to_contain_text(f"org.example.note={hostile}")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script, main img").count() == 0
    expect(page.locator("#naming-tags")).to_contain_text("latest")


def test_keyboard_reaches_every_control_and_all_have_names(page: Page, ui: UiWorld) -> None:
    name = unique(PUBLIC_ORG)
    with ui.pusher() as http:
        push_image(http, name, "latest")
        image = push_image(http, name, "latest")
        moved = api_history(http, name, "latest")[0].timestamp
    paths = [
        "/",
        f"/repo/{name}",
        f"/repo/{name}/-/tag/latest?at={moved}",
        f"/repo/{name}/-/digest/{image.digest}",
        "/login",
    ]
    for path in paths:
        page.goto(path)
        controls = page.evaluate(NAMES_SCRIPT, FOCUSABLE)
        assert controls, path
        unnamed = [c for c in controls if not c["name"]]
        assert not unnamed, (path, unnamed)
        images = page.evaluate(NAMES_SCRIPT, "img, svg")
        assert all(i["name"] for i in images), (path, images)
        # Tab through the page: every control takes the focus in turn.
        count = page.evaluate(
            "(sel) => { const all = document.querySelectorAll(sel);"
            " all.forEach((el, i) => el.setAttribute('data-kb', String(i)));"
            " return all.length; }",
            FOCUSABLE,
        )
        reached: set[str] = set()
        page.locator("body").focus()
        # A date-time input takes one Tab stop per field (year, month, ...): hence the slack.
        for _ in range(count + 30):
            page.keyboard.press("Tab")
            index = page.evaluate(
                "() => document.activeElement && document.activeElement.getAttribute('data-kb')"
            )
            if index is not None:
                reached.add(index)
            if len(reached) == count:
                break
        assert reached == {str(i) for i in range(count)}, (path, count, sorted(reached))
