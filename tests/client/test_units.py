"""The client's pieces without a server: references, times, challenges, Link headers, docker
config lookups, reference scanning and rewriting, output formats."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from tagtrail.challenges import parse_challenge
from tagtrail.client.dockerconfig import Credentials, DockerConfig
from tagtrail.client.errors import CredentialsError, UsageError
from tagtrail.client.formats import render
from tagtrail.client.history import HistoryEntry, next_page_url
from tagtrail.client.manifests import PlatformEntry
from tagtrail.client.pinning import make_plan, pinned_text
from tagtrail.client.reference import (
    ImageReference,
    endpoint_for,
    is_loopback,
    parse_reference,
    registry_host,
)
from tagtrail.client.rewrite import is_dockerfile, load, scan
from tagtrail.client.times import parse_moment

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64

# -- references -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python", ImageReference("docker.io", "library/python")),
        ("python:3.12", ImageReference("docker.io", "library/python", "3.12")),
        ("chainguard/python:latest", ImageReference("docker.io", "chainguard/python", "latest")),
        ("cgr.dev/chainguard/python", ImageReference("cgr.dev", "chainguard/python")),
        (
            "127.0.0.1:5000/a/b:v1@" + DIGEST,
            ImageReference("127.0.0.1:5000", "a/b", "v1", DIGEST),
        ),
        ("localhost/app@" + DIGEST, ImageReference("localhost", "app", None, DIGEST)),
        ("http://reg.example:80/x/y:z", ImageReference("reg.example:80", "x/y", "z", None, "http")),
        ("[::1]:5000/app:1", ImageReference("[::1]:5000", "app", "1")),
    ],
)
def test_parse_reference(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text", ["", "Upper/Case", "a/b:", "a/b:bad tag", "a/b@sha256:short", "http://nohost"]
)
def test_invalid_references(text: str) -> None:
    with pytest.raises(UsageError, match="invalid"):
        parse_reference(text)


def test_a_digest_is_not_a_tag_where_one_is_needed() -> None:
    with pytest.raises(UsageError, match="needs a tag"):
        parse_reference("reg.example/a@" + DIGEST, require_tag=True)


def test_endpoints() -> None:
    # Loopback registries: HTTPS first, with a fallback to plain HTTP; nothing else falls back.
    for loopback in ("127.0.0.1:5000", "127.1.2.3", "localhost:5000", "[::1]:5000"):
        endpoint = endpoint_for(loopback)
        assert (endpoint.scheme, endpoint.fallback) == ("https", True), loopback
    assert endpoint_for("127.0.0.1:5000").base_url == "https://127.0.0.1:5000"
    assert not endpoint_for("127.0.0.1:5000", plain_http=True).fallback
    assert endpoint_for("127.0.0.1:5000", plain_http=True).scheme == "http"
    assert endpoint_for("127.0.0.1:5000", scheme="http").scheme == "http"
    explicit = endpoint_for("127.0.0.1:5000", scheme="https")
    assert (explicit.scheme, explicit.fallback) == ("https", False)
    assert endpoint_for("cgr.dev").base_url == "https://cgr.dev"
    assert not endpoint_for("cgr.dev").fallback
    assert endpoint_for("cgr.dev", plain_http=True).scheme == "http"
    hub = endpoint_for("docker.io")
    assert (hub.host, hub.auth_key) == ("registry-1.docker.io", "https://index.docker.io/v1/")
    assert not is_loopback("10.0.0.1:5000")
    assert registry_host("https://index.docker.io/v1/") == ("docker.io", "https")
    assert registry_host("127.0.0.1:5000/a/b:c") == ("127.0.0.1:5000", None)


# -- times ------------------------------------------------------------------------------------


def test_parse_moment() -> None:
    now = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)
    assert parse_moment("7d", now=now) == now - timedelta(days=7)
    assert parse_moment("1h30m", now=now) == now - timedelta(minutes=90)
    assert parse_moment("2w", now=now) == now - timedelta(weeks=2)
    assert parse_moment("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_moment("2024-05-01T12:00:00.250Z") == datetime(
        2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC
    )
    assert parse_moment("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert parse_moment("2024-05-01T12:00:00") == datetime(2024, 5, 1, 12, tzinfo=UTC)
    for bad in ("yesterday", "7x", "2024-13-01", ""):
        with pytest.raises(UsageError):
            parse_moment(bad)


# -- challenges and links ---------------------------------------------------------------------


def test_parse_challenge() -> None:
    found = parse_challenge(
        'Bearer realm="http://r/token",service="tagtrail",'
        'scope="repository:a/b:pull repository:c:push",error="insufficient_scope"'
    )
    assert found is not None
    assert found.scheme == "bearer"
    assert found.params["realm"] == "http://r/token"
    assert found.scopes == ["repository:a/b:pull", "repository:c:push"]
    basic = parse_challenge('Basic realm="tagtrail"')
    assert basic is not None
    assert (basic.scheme, basic.params) == ("basic", {"realm": "tagtrail"})
    assert parse_challenge("") is None


def test_next_page_url() -> None:
    request = httpx.Request("GET", "http://r:5000/v2/a/_chainguard/history/t?start=x")

    def response(link: str | None) -> httpx.Response:
        return httpx.Response(200, headers={"Link": link} if link else {}, request=request)

    assert next_page_url(response(None)) is None
    assert (
        next_page_url(response('</v2/a/_chainguard/history/t?start=y>; rel="next"'))
        == "http://r:5000/v2/a/_chainguard/history/t?start=y"
    )
    assert (
        next_page_url(response('<http://o/x>; rel="prev", <http://o/y>; rel=next')) == "http://o/y"
    )
    assert next_page_url(response('<http://o/x>; rel="prev"')) is None
    # A rel lists relations, in any case (RFC 8288); the link's other parameters are skipped.
    assert next_page_url(response('<http://o/x>; rel="prev"; title="a"')) is None
    assert next_page_url(response('<http://o/z>; title="t"; rel="last next"')) == "http://o/z"
    assert next_page_url(response("</x?n=2&last=a,b>; REL=Next")) == "http://r:5000/x?n=2&last=a,b"


# -- docker config ----------------------------------------------------------------------------


def config(tmp_path: Path, document: dict[str, object]) -> DockerConfig:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(document))
    return DockerConfig.load(path)


def test_auths_lookups(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"user:pa:ss").decode()
    found = config(
        tmp_path,
        {
            "auths": {
                "https://reg.example/v1/": {"auth": encoded},
                "tok.example": {"identitytoken": "refresh"},
                "bearer.example": {"registrytoken": "bearer"},
                "empty.example": {},
            }
        },
    )
    creds = found.credentials("reg.example")
    assert creds is not None
    assert (creds.username, creds.password) == ("user", "pa:ss")
    identity = found.credentials("tok.example")
    assert identity is not None
    assert identity.identity_token == "refresh"
    registry_token = found.credentials("bearer.example")
    assert registry_token is not None
    assert registry_token.registry_token == "bearer"
    assert found.credentials("empty.example") is None
    assert found.credentials("other.example") is None


def test_bad_configs(tmp_path: Path) -> None:
    assert DockerConfig.load(tmp_path / "missing.json").data == {}
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CredentialsError, match="not valid JSON"):
        DockerConfig.load(tmp_path / "bad.json")
    with pytest.raises(CredentialsError, match="base64"):
        config(tmp_path, {"auths": {"r.example": {"auth": "!!"}}}).credentials("r.example")


def test_store_and_erase_keep_other_keys(tmp_path: Path) -> None:
    found = config(tmp_path, {"auths": {"a.example": {"auth": "eDp5"}}, "psFormat": "table"})
    found.store("b.example", "u", "p")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["psFormat"] == "table"
    assert saved["auths"]["b.example"] == {"auth": base64.b64encode(b"u:p").decode()}
    reloaded = DockerConfig.load(tmp_path / "config.json")
    assert reloaded.credentials("b.example") == Credentials(
        "u", "p", source=f"{tmp_path / 'config.json'} auths['b.example']"
    )
    assert reloaded.erase("b.example")
    assert not reloaded.erase("b.example")
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {
        "a.example": {"auth": "eDp5"}
    }


# -- scanning and rewriting -------------------------------------------------------------------


def test_dockerfile_names() -> None:
    for name in ("Dockerfile", "Containerfile", "Dockerfile.dev", "app.Dockerfile", "dockerfile"):
        assert is_dockerfile(Path(name)), name
    for name in ("Dockerfile.md", "README", "dockerfile_lint.py", "compose.yaml"):
        assert not is_dockerfile(Path(name)), name


def test_scan_dockerfile_sites_and_skips() -> None:
    text = (
        "FROM a.example/base:1 AS Builder\n"
        "FROM builder\n"
        "FROM --platform=$TARGETPLATFORM \\\n"
        "  # a comment inside the instruction\n"
        "  a.example/run:2\n"
        "RUN <<-'SCRIPT'\n"
        "FROM a.example/not:an-instruction\n"
        "SCRIPT\n"
        "FROM $IMAGE\n"
        "FROM scratch\n"
        "from a.example/last:3\n"
    )
    source = scan(Path("Dockerfile"), text)
    assert source is not None
    assert [(s.line, s.text) for s in source.sites] == [
        (0, "a.example/base:1"),
        (4, "a.example/run:2"),
        (10, "a.example/last:3"),
    ]
    assert [(s.line, s.text) for s in source.skipped] == [(8, "$IMAGE")]


def test_scan_yaml() -> None:
    text = (
        "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n"
        "    - image: a.example/x:1 # comment\n"
        '      "image": "a.example/y:2"\n'
        "    - image:\n"
        "        repository: a.example/helm-style\n"
        "    - image: '{{ .Values.image }}'\n"
        '    - image: "{{.Values.image}}"\n'
        "    # image: a.example/commented:1\n"
    )
    source = scan(Path("pod.yaml"), text)
    assert source is not None
    assert source.kind == "kubernetes"
    assert [s.text for s in source.sites] == ["a.example/x:1", "a.example/y:2"]
    assert [s.text for s in source.skipped] == ["{{.Values.image}}"]
    assert scan(Path("values.yaml"), "image: a.example/x:1\n") is None
    explicit = scan(Path("values.yaml"), "image: a.example/x:1\n", explicit=True)
    assert explicit is not None
    assert [s.text for s in explicit.sites] == ["a.example/x:1"]


def test_plan_rewrites_only_the_references(tmp_path: Path) -> None:
    compose = tmp_path / "compose.yaml"
    original = (
        "services:\r\n  a:\r\n    image: a.example/x:1\t# keep\r\n"
        f"  b:\r\n    image: a.example/y:2@{OTHER}\r\n  c:\r\n    image: a.example/z@{OTHER}"
    )
    compose.write_bytes(original.encode())
    files = load([tmp_path]).files
    resolved: list[str] = []

    def resolve(reference: ImageReference) -> str:
        resolved.append(str(reference))
        return DIGEST

    plan = make_plan(files, resolve)
    assert resolved == ["a.example/x:1"]
    assert plan.rewritten[compose][1] == original.replace("x:1\t", f"x:1@{DIGEST}\t")
    updated = make_plan(files, resolve, update=True)
    assert updated.rewritten[compose][1] == original.replace("x:1\t", f"x:1@{DIGEST}\t").replace(
        f"y:2@{OTHER}", f"y:2@{DIGEST}"
    )
    checked = make_plan(files, resolve, check=True)
    assert [(p.line, p.message.split(":")[0]) for p in checked.problems] == [
        (3, "unpinned"),
        (5, "stale"),
    ]
    assert checked.rewritten == {}


def test_pinned_text() -> None:
    assert pinned_text("reg.example/a", parse_reference("reg.example/a"), DIGEST) == (
        f"reg.example/a:latest@{DIGEST}"
    )
    assert pinned_text(f"a:1@{OTHER}", parse_reference(f"a:1@{OTHER}"), DIGEST) == f"a:1@{DIGEST}"


# -- formats ----------------------------------------------------------------------------------


def test_yaml_output_round_trips_awkward_strings() -> None:
    records = [
        HistoryEntry("2024-05-01T12:00:00.250Z", DIGEST),
        HistoryEntry("x: 'y' #", OTHER, "deleted"),
    ]
    platforms = {DIGEST: [PlatformEntry("linux/arm64/v8", OTHER, 12)], OTHER: []}
    expected = [
        {
            "updateTimestamp": "2024-05-01T12:00:00.250Z",
            "digest": DIGEST,
            "event": "created",
            "platforms": [{"platform": "linux/arm64/v8", "digest": OTHER, "size": 12}],
        },
        {"updateTimestamp": "x: 'y' #", "digest": OTHER, "event": "deleted", "platforms": []},
    ]
    assert yaml.safe_load(render(records, "yaml", platforms)) == expected
    assert json.loads(render(records, "json", platforms)) == expected
    assert render([], "table") == "no history records\n"
    assert render([], "csv") == "updateTimestamp,digest,event\n"
    # The event is csv's last column, so the older columns keep their places.
    assert render(records, "csv", platforms).splitlines() == [
        "updateTimestamp,digest,platform,platformDigest,size,event",
        f"2024-05-01T12:00:00.250Z,{DIGEST},linux/arm64/v8,{OTHER},12,created",
        f"x: 'y' #,{OTHER},,,,deleted",
    ]
