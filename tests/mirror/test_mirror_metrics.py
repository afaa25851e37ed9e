"""A mirror's work in ``/metrics``: tag checks by mirror, blob fetches, and the failures of
either when the upstream answers 503."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.test_metrics import parse, value
from tests.mirror.faults import Fault
from tests.mirror.mirror_server import PREFIX, PullThrough, poll, pull_through, repository
from tests.mirror.upstreams import Distribution, push_image, sha256


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory, distribution: Distribution
) -> Iterator[PullThrough]:
    data = tmp_path_factory.mktemp("mirror-metrics") / "data"
    with pull_through(data, distribution, interval_s=1) as running:
        yield running


def counts(http: httpx.Client) -> dict[str, float]:
    samples = parse(http.get("/metrics").text)
    return {
        "checks": value(samples, "tagtrail_mirror_checks_total", mirror=PREFIX),
        "fetches": value(samples, "tagtrail_mirror_fetches_total"),
        "check failures": value(samples, "tagtrail_mirror_failures_total", kind="check"),
        "fetch failures": value(samples, "tagtrail_mirror_failures_total", kind="fetch"),
    }


def test_checks_fetches_and_failures_are_counted(mirror: PullThrough) -> None:
    repo = repository()
    with mirror.upstream() as upstream, mirror.client() as http:
        image = push_image(upstream, repo, "v1", layers=2)
        before = counts(http)
        assert http.get(f"/v2/{PREFIX}/{repo}/manifests/v1").status_code == 200
        first, second = image.layers
        assert http.get(f"/v2/{PREFIX}/{repo}/blobs/{sha256(first)}").content == first
        # Counted once stored, which may end just after the client got the bytes.
        poll(lambda: counts(http)["fetches"] - before["fetches"] == 1, "the fetch counted")
        pulled = counts(http)
        assert pulled["checks"] - before["checks"] == 1
        mirror.proxy.add(Fault(r"/v2/", "status", status=503))

        def warned() -> bool:
            return "warning" in http.get(f"/v2/{PREFIX}/{repo}/manifests/v1").headers

        poll(warned, "the failed check after the interval")
        missing = http.get(f"/v2/{PREFIX}/{repo}/blobs/{sha256(second)}")
        assert missing.status_code == 503
        failed = counts(http)
    assert failed["check failures"] - pulled["check failures"] == 1
    assert failed["fetch failures"] - pulled["fetch failures"] == 1
    assert failed["fetches"] == pulled["fetches"]
