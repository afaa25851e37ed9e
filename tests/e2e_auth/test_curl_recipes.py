"""The Tag History API guide's curl + jq recipes, run as written with only the host changed,
against a public ``chainguard`` organisation whose ``python:latest`` was built three times.
(The guide's private-organisation recipe, with ``crane auth token -H``, is not covered here.)"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.helpers import require_binary, run
from tests.e2e_auth.world import World

GUIDE_HOST = "https://cgr.dev"

# The guide's blocks, verbatim. It uses $tok without saying how to get it: the same token request.
AUTH_HEADER = """\
auth_header="Authorization: Bearer $(curl 'https://cgr.dev/token?scope=repository:chainguard/python:pull' \\
  | jq -r .token)"
"""  # noqa: E501
ECHO = "echo $auth_header\n"
HISTORY = """\
curl -H "$auth_header" \\
  https://cgr.dev/v2/chainguard/python/_chainguard/history/latest | jq
"""
TOK = "tok=$(curl 'https://cgr.dev/token?scope=repository:chainguard/python:pull' | jq -r .token)\n"
WEEK_AGO_UBUNTU = 'timestamp=$(date -d "-1 week" +%Y-%m-%dT%H:%M:%SZ)\n'
WEEK_AGO_WOLFI = "timestamp=$(date -d @$(( $(date +%s ) - 604800 )) +%Y-%m-%dT%H:%M:%SZ)\n"
BEFORE_2024 = 'timestamp="2024-01-01T00:00:00Z"\n'
SINCE = """\
curl -s -H "Authorization: Bearer $tok" \\
	"https://cgr.dev/v2/chainguard/python/_chainguard/history/latest?start=${timestamp}" | jq
"""
UNTIL = SINCE.replace("?start=", "?end=")


def shell(world: World, *blocks: str) -> str:
    """Run the blocks in one bash with the guide's host replaced by the test registry's URL;
    fails (never skips) when a tool of the recipes is missing."""
    for tool in ("bash", "curl", "jq", "date"):
        require_binary(tool)
    script = "".join(blocks).replace(GUIDE_HOST, world.server.url)
    return run(["bash", "-c", script], timeout=30).stdout


def history_of(printed: str) -> list[dict[str, Any]]:
    body: dict[str, list[dict[str, Any]]] = json.loads(printed)
    assert list(body) == ["history"], body
    return body["history"]


def test_auth_header_recipe_lists_every_build(world: World) -> None:
    echoed, printed = shell(world, AUTH_HEADER, ECHO, HISTORY).split("\n", 1)
    scheme, jwt = echoed.split("Authorization: Bearer ", 1)
    assert scheme == "" and jwt.count(".") == 2, echoed
    records = history_of(printed)
    assert [r["digest"] for r in records] == world.history["chainguard/python:latest"]
    stamps = [r["updateTimestamp"] for r in records]
    assert stamps == sorted(stamps) and all(s.endswith("Z") for s in stamps), stamps


def test_start_recipes_list_the_last_week(world: World) -> None:
    for week_ago in (WEEK_AGO_UBUNTU, WEEK_AGO_WOLFI):
        records = history_of(shell(world, week_ago, TOK, SINCE))
        assert [r["digest"] for r in records] == world.history["chainguard/python:latest"]


def test_end_recipes_list_nothing_older(world: World) -> None:
    for timestamp in (BEFORE_2024, WEEK_AGO_UBUNTU):
        assert history_of(shell(world, timestamp, TOK, UNTIL)) == [], timestamp


def test_free_tier_recipe_reads_latest_history_but_not_other_tags(world: World) -> None:
    """With public-tags=latest,latest-dev the anonymous token reads latest's history only."""
    free = [block.replace("chainguard/python", "freeco/python") for block in (AUTH_HEADER, HISTORY)]
    latest = history_of(shell(world, *free))
    assert [r["digest"] for r in latest] == world.history["freeco/python:latest"]
    refused = json.loads(shell(world, free[0], free[1].replace("/latest", "/1.2.3")))
    assert [e["code"] for e in refused["errors"]] == ["UNAUTHORIZED"], refused
