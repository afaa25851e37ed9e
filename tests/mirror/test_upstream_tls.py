"""TLS to an upstream is verified: a certificate from an unknown CA is refused, and trusted
once its CA bundle is given (an upstream with a private CA)."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tagtrail.upstream import Upstream, UpstreamUnavailable
from tests.mirror.upstreams import Distribution, push_image, start_distribution


@pytest.fixture(scope="module")
def tls_distribution(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Distribution, Path]]:
    work = tmp_path_factory.mktemp("distribution-tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    cert, key, bundle = work / "server.pem", work / "server.key", work / "ca.pem"
    cert.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    verify = ssl.create_default_context(cafile=bundle)
    running = start_distribution(work / "data", tls=(cert, key), verify=verify)
    yield running, bundle
    running.stop()


def test_ca_bundle_is_trusted_and_nothing_else(tls_distribution: tuple[Distribution, Path]) -> None:
    distribution, bundle = tls_distribution
    name = f"tls/{uuid.uuid4().hex[:10]}"
    verify = ssl.create_default_context(cafile=bundle)
    with httpx.Client(base_url=distribution.url, timeout=30, verify=verify) as http:
        image = push_image(http, name, "v1")

    async def run() -> None:
        async with Upstream(distribution.url, ca_bundle=bundle) as trusting:
            head = await trusting.head_manifest(name, "v1")
            assert head is not None
            assert head.digest == image.digest
        async with Upstream(distribution.url) as default:
            with pytest.raises(UpstreamUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
                await default.head_manifest(name, "v1")

    asyncio.run(run())
