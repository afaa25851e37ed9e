"""``POST /v2/<name>/_tagtrail/tags/<tag>/restore``: a tag pointed back at a digest from its own
history, recorded as ``restore``; digests the tag never had, and moments it did not exist, are
refused with the OCI error body and leave the tag where it was."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import assert_oci_error, push_image, repo
from tests.api.test_oci_history import tag_history
from tests.client.test_openapi import check

ACTION = "dev.tagtrail.action"
ACTOR = "dev.tagtrail.actor"
PREVIOUS = "dev.tagtrail.previous"


def restore(client: httpx.Client, name: str, tag: str, **body: Any) -> httpx.Response:
    return client.post(f"/v2/{name}/_tagtrail/tags/{tag}/restore", json=body)


def current(client: httpx.Client, name: str, tag: str) -> str:
    response = client.head(f"/v2/{name}/manifests/{tag}")
    assert response.status_code == 200, response.text
    return response.headers["docker-content-digest"]


def test_restore_by_digest_is_recorded_as_restore(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    two = push_image(client, name, "prod")
    response = restore(client, name, "prod", digest=one.digest)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "name": name,
        "tag": "prod",
        "digest": one.digest,
        "previous": two.digest,
        "moved": True,
    }
    assert response.headers["docker-content-digest"] == one.digest
    assert current(client, name, "prod") == one.digest
    entries, _ = tag_history(client, name, "prod")
    # Auth is off here: everyone may push, so everyone sees who (anonymous) and how.
    newest = entries[0]["annotations"]
    assert (entries[0]["digest"], newest[ACTION], newest[ACTOR]) == (
        one.digest,
        "restore",
        "anonymous",
    )
    assert newest[PREVIOUS] == two.digest
    assert [e["annotations"][ACTION] for e in entries[1:]] == ["push", "push"]


def test_restore_to_where_the_tag_points_records_nothing(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    response = restore(client, name, "prod", digest=one.digest)
    assert response.status_code == 200, response.text
    assert response.json()["moved"] is False
    assert len(tag_history(client, name, "prod")[0]) == 1


def test_restore_after_a_deletion(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    assert client.delete(f"/v2/{name}/manifests/prod").status_code == 202
    response = restore(client, name, "prod", digest=one.digest)
    assert response.status_code == 200, response.text
    assert response.json()["previous"] is None
    assert current(client, name, "prod") == one.digest
    events = [e["annotations"][ACTION] for e in tag_history(client, name, "prod")[0]]
    assert events == ["restore", "delete", "push"]


def test_restore_at_a_moment(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    at = tag_history(client, name, "prod")[0][0]["annotations"][
        "org.opencontainers.distribution.tag.timestamp"
    ]
    push_image(client, name, "prod")
    response = restore(client, name, "prod", at=at)
    assert response.status_code == 200, response.text
    assert current(client, name, "prod") == one.digest
    # Before the first record the tag did not exist: nothing to restore.
    early = restore(client, name, "prod", at="2001-01-01T00:00:00Z")
    error = assert_oci_error(early, 404, "MANIFEST_UNKNOWN")
    assert "did not exist" in error["message"]
    assert current(client, name, "prod") == one.digest


def test_a_digest_the_tag_never_had_is_refused(client: httpx.Client) -> None:
    name = repo("restore")
    push_image(client, name, "prod")
    other = push_image(client, name, "other")  # stored in the repository, never prod's
    before = tag_history(client, name, "prod")[0]
    response = restore(client, name, "prod", digest=other.digest)
    error = assert_oci_error(response, 404, "MANIFEST_UNKNOWN")
    assert "never pointed" in error["message"]
    assert tag_history(client, name, "prod")[0] == before
    # Nor a tag or repository without history.
    assert_oci_error(restore(client, name, "nope", digest=other.digest), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(
        restore(client, repo("restore"), "prod", digest=other.digest), 404, "NAME_UNKNOWN"
    )


def test_malformed_bodies_are_400(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    url = f"/v2/{name}/_tagtrail/tags/prod/restore"
    for body in (b"", b"[]", b"{", b'{"digest": 1}', b"{}", b'{"digest": "x", "at": "y"}'):
        assert_oci_error(client.post(url, content=body), 400)
    assert_oci_error(restore(client, name, "prod", digest="sha256:abc"), 400, "DIGEST_INVALID")
    assert_oci_error(restore(client, name, "prod", at="yesterday"), 400, "TIMESTAMP_INVALID")
    # Before year 1 in UTC: no time a record can have, and never a server error.
    early = restore(client, name, "prod", at="0001-01-01T00:00:00+23:59")
    assert_oci_error(early, 400, "TIMESTAMP_INVALID")
    assert_oci_error(restore(client, name, "prod", digest=one.digest, extra=1), 400)
    assert_oci_error(client.post(url, content=b" " * 5000), 413)
    assert client.get(url).status_code == 405


def test_restore_under_a_name_that_holds_routing_words(client: httpx.Client) -> None:
    # The route lives under any repository name, also one that holds routing words.
    name = f"{repo('restore')}/manifests/tags"
    one = push_image(client, name, "prod")
    push_image(client, name, "prod")
    assert restore(client, name, "prod", digest=one.digest).status_code == 200
    assert current(client, name, "prod") == one.digest


def test_every_answer_is_documented(client: httpx.Client) -> None:
    name = repo("restore")
    one = push_image(client, name, "prod")
    push_image(client, name, "prod")
    path = "/v2/{name}/_tagtrail/tags/{tag}/restore"
    url = f"/v2/{name}/_tagtrail/tags/prod/restore"
    answers = [
        restore(client, name, "prod", digest=one.digest),
        restore(client, name, "prod", at="2001-01-01T00:00:00Z"),
        restore(client, name, "prod", digest="sha256:abc"),
        client.post(url, content=b"[]"),
        client.post(url, content=b" " * 5000),
        client.get(url),
    ]
    assert [a.status_code for a in answers] == [200, 404, 400, 400, 413, 405]
    for answer in answers:
        check(path, "post", answer)
