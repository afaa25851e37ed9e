"""The API's access rules on the pages, for the free tier: a repository public for some tags
shows anonymous visitors those tags, what they point or pointed to, and nothing else."""

from __future__ import annotations

import httpx

from tests.api.helpers import push_image
from tests.auth.cli import admin_cli
from tests.ui.conftest import ADMIN_PASSWORD, PRIVATE_ORG, UiWorld
from tests.ui.helpers import unique


def test_public_tags_only_for_anonymous_visitors(ui: UiWorld) -> None:
    name = unique(PRIVATE_ORG)
    with ui.pusher() as api:
        old = push_image(api, name, "latest")
        latest = push_image(api, name, "latest")
        stable = push_image(api, name, "stable")
    admin_cli(ui.server.data_dir, "repo", "visibility", name, "public-tags=latest")
    with httpx.Client(base_url=ui.url, timeout=30) as anonymous:
        listing = anonymous.get("/", params={"q": name.split("/")[1]})
        assert listing.status_code == 200
        row = listing.text.split(f'data-name="{name}"', 1)[1].split("</tr>", 1)[0]
        assert '<td data-value="1">1</td>' in row  # one tag of two is theirs to see
        tags = anonymous.get(f"/repo/{name}")
        assert tags.status_code == 200
        assert 'data-tag="latest"' in tags.text and 'data-tag="stable"' not in tags.text
        assert anonymous.get(f"/repo/{name}/-/tag/latest").status_code == 200
        assert anonymous.get(f"/repo/{name}/-/tag/stable").status_code == 404
        garbled = anonymous.get(f"/repo/{name}/-/tag/latest", params={"at": "<b>noon</b>"})
        assert garbled.status_code == 200 and 'id="at-invalid"' in garbled.text
        assert "<b>noon</b>" not in garbled.text and "&lt;b&gt;noon&lt;/b&gt;" in garbled.text
        for visible in (old, latest):
            page = anonymous.get(f"/repo/{name}/-/digest/{visible.digest}")
            assert page.status_code == 200, visible
            assert "stable" not in page.text.split('id="naming-tags"', 1)[1].split("</ul>")[0]
        assert anonymous.get(f"/repo/{name}/-/digest/{stable.digest}").status_code == 404
    with httpx.Client(base_url=ui.url, timeout=30) as member:
        form = member.get("/login").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        signed = member.post(
            "/login", data={"csrf": form, "username": "admin", "password": ADMIN_PASSWORD}
        )
        assert signed.status_code == 303
        assert 'data-tag="stable"' in member.get(f"/repo/{name}").text
        assert member.get(f"/repo/{name}/-/digest/{stable.digest}").status_code == 200
