"""``/metrics``: who may read it, and what it counts (route classes, durations, bytes, the
registry's own events). What only the real server shows (numbers summed over workers, the
uploads in flight, the directory of the workers' files) is in test_metrics_workers.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from tests.api.helpers import push_blob, push_image, random_bytes, repo, sha256
from tests.cli.helpers import tagtrail
from tests.inprocess import (
    BASE_URL,
    InProcessRegistry,
    PortalTransport,
    in_process_registry,
    settings_for,
)
from tests.reliability.test_gc_orphans import blob_key, plant_file

DOCS = Path(__file__).parents[2] / "docs"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return value(samples, "tagtrail_http_requests_total", **labels)


def client_at(registry: InProcessRegistry, address: str) -> httpx.Client:
    """A client of ``registry`` whose requests come from ``address``."""
    transport = PortalTransport(registry.portal, None)
    app = registry.transport._asgi.app
    transport._asgi = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.Client(transport=transport, base_url=BASE_URL, timeout=30)


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRegistry]:
    """A registry whose metrics are open to 203.0.113.0/24 as well as loopback."""
    data = tmp_path_factory.mktemp("metrics") / "data"
    with in_process_registry(data, metrics_allow=["127.0.0.0/8", "203.0.113.0/24"]) as registry:
        yield registry


def test_loopback_reads_the_metrics_by_default(client: httpx.Client) -> None:
    samples = scrape(client)
    assert ("tagtrail_uploads_in_progress", frozenset()) in samples


def test_other_addresses_get_the_404_of_an_unknown_path(app_registry: InProcessRegistry) -> None:
    with client_at(app_registry, "203.0.113.5") as outsider:
        refused = outsider.get("/metrics")
        unknown = outsider.get("/no-such-endpoint")
    assert refused.status_code == unknown.status_code == 404
    assert refused.json()["errors"][0]["code"] == unknown.json()["errors"][0]["code"]
    assert "tagtrail_" not in refused.text


@pytest.mark.parametrize(
    "headers",
    [
        {"x-forwarded-for": "198.51.100.7"},
        {"x-forwarded-for": "127.0.0.1, 198.51.100.7"},
        {"forwarded": 'for="[2001:db8::1]:443";proto=https'},
        {"forwarded": "for=198.51.100.7:8080"},
        {"x-real-ip": "198.51.100.7"},
        {"x-forwarded-for": "unknown"},
    ],
)
def test_a_proxied_request_counts_as_from_its_client(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    """A proxy on the same host connects from loopback: the forwarded address decides."""
    assert client.get("/metrics", headers=headers).status_code == 404


def test_a_forwarded_loopback_address_is_let_through(client: httpx.Client) -> None:
    headers = {"x-forwarded-for": "127.0.0.1", "forwarded": "for=127.0.0.2"}
    assert client.get("/metrics", headers=headers).status_code == 200


def test_the_allow_list_opens_the_metrics(allowing: InProcessRegistry) -> None:
    with client_at(allowing, "203.0.113.5") as inside:
        assert scrape(inside)
    with client_at(allowing, "198.51.100.7") as outside:
        assert outside.get("/metrics").status_code == 404


def test_route_classes_durations_and_bytes(client: httpx.Client) -> None:
    name = repo("metrics")
    before = scrape(client)
    pushed = push_image(client, name, "v1")
    layer = json.loads(pushed.body)["layers"][0]["digest"]
    fetched = client.get(f"/v2/{name}/manifests/v1", headers={"accept": pushed.media_type})
    assert fetched.status_code == 200
    blob = [client.get(f"/v2/{name}/blobs/{layer}") for _ in range(2)]
    assert [b.status_code for b in blob] == [200, 200]
    assert client.head(f"/v2/{name}/blobs/{layer}").status_code == 200
    assert client.get(f"/v2/{name}/_chainguard/history/v1").status_code == 200
    assert client.get(f"/v2/{name}/_oci/tag-history/v1").status_code == 200
    token = client.get("/token")  # auth is off here: refused, and counted as a token request
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
    after = scrape(client)

    def delta(route: str, method: str, status: int) -> float:
        return requests(after, route, method, status) - requests(before, route, method, status)

    assert delta("upload", "POST", 201) == 2  # the config and the layer, monolithic
    assert delta("manifest", "PUT", 201) == 1
    assert delta("manifest", "GET", 200) == 1
    assert delta("blob", "GET", 200) == 2 and delta("blob", "HEAD", 200) == 1
    assert delta("history", "GET", 200) == 2
    assert delta("token", "GET", token.status_code) == 1
    assert delta("ui", "GET", 200) == 1
    assert delta("other", "GET", 200) >= 2  # /healthz, and the first scrape itself
    count = "tagtrail_http_request_duration_seconds_count"
    labels = {"route": "manifest", "method": "GET"}
    assert value(after, count, **labels) - value(before, count, **labels) == 1
    bucket = "tagtrail_http_request_duration_seconds_bucket"
    assert value(after, bucket, le="+Inf", **labels) == value(after, count, **labels)
    sent = "tagtrail_http_response_bytes_total"
    size = len(blob[0].content)
    assert value(after, sent, route="blob") - value(before, sent, route="blob") == 2 * size
    assert value(after, sent, route="manifest") - value(before, sent, route="manifest") == len(
        pushed.body
    )
    received = "tagtrail_http_request_bytes_total"
    assert value(after, received, route="manifest") - value(
        before, received, route="manifest"
    ) == len(pushed.body)
    assert value(after, received, route="upload") - value(before, received, route="upload") > 0


def test_registry_events_are_counted(client: httpx.Client) -> None:
    """History records written, the small-blob cache's miss, and the same pull answered
    again from what the worker kept (api/pull_answers.py), then from the small-blob cache
    once something stored changed."""
    name = repo("metrics")
    before = scrape(client)
    push_image(client, name, "a")
    push_image(client, name, "a")  # a move
    assert client.delete(f"/v2/{name}/manifests/a").status_code == 202  # a deletion
    data = random_bytes(100)
    digest = push_blob(client, name, data)
    for _ in range(3):
        assert client.get(f"/v2/{name}/blobs/{digest}").content == data
    push_blob(client, name, random_bytes(10))  # a change: what was kept is dropped
    assert client.get(f"/v2/{name}/blobs/{digest}").content == data
    after = scrape(client)
    records = "tagtrail_history_records_total"
    assert value(after, records, event="created") - value(before, records, event="created") == 2
    assert value(after, records, event="deleted") - value(before, records, event="deleted") == 1
    hits, misses = "tagtrail_blob_cache_hits_total", "tagtrail_blob_cache_misses_total"
    reused = "tagtrail_reused_answers_total"
    assert value(after, misses) - value(before, misses) == 1
    assert value(after, reused, route="blob") - value(before, reused, route="blob") == 2
    assert value(after, hits) - value(before, hits) == 1


def test_gc_runs_and_bytes_freed_are_counted(allowing: InProcessRegistry, tmp_path: Path) -> None:
    """`tagtrail gc` counts in the process that runs it (here, this one)."""
    with allowing.client() as http:
        before = scrape(http)
        orphan = random_bytes(1234)
        plant_file(allowing.data_dir / blob_key(sha256(orphan)), orphan, old=True)
        done = tagtrail("gc", "--data-dir", str(allowing.data_dir), "--grace-seconds", "0")
        assert done.returncode == 0, done.stderr
        after = scrape(http)
    runs, freed = "tagtrail_gc_runs_total", "tagtrail_gc_freed_bytes_total"
    assert value(after, runs) - value(before, runs) == 1
    assert value(after, freed) - value(before, freed) == 1234


def test_the_dashboard_names_only_exported_metrics() -> None:
    """docs/grafana-dashboard.json queries metrics this server exports, and each of them."""
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for query in queries
        for name in re.findall(r"tagtrail_[a-z_]+", query)
    }
    exported = {family.name for family in REGISTRY.collect() if family.name.startswith("tagtrail_")}
    assert used == exported


def test_metrics_allow_refuses_what_is_no_network(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=re.escape("'10.0.0.0/33' is not a network")):
        settings_for(tmp_path, metrics_allow=["127.0.0.0/8", "10.0.0.0/33"])
