"""The referrers API and the OCI-Subject header."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    Pushed,
    assert_oci_error,
    encode,
    image_manifest,
    index_manifest,
    push_blob,
    push_image,
    push_manifest,
    put_manifest,
    random_bytes,
    repo,
    sha256,
)

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


def subject_of(pushed: Pushed) -> dict[str, Any]:
    return {"mediaType": pushed.media_type, "digest": pushed.digest, "size": len(pushed.body)}


def push_referrer(
    client: httpx.Client,
    name: str,
    subject: dict[str, Any],
    artifact_type: str,
    annotations: dict[str, str],
    *,
    via_config: bool = False,
) -> Pushed:
    config = random_bytes()
    push_blob(client, name, config)
    body = image_manifest(
        config,
        config_type=artifact_type if via_config else "application/vnd.oci.empty.v1+json",
        artifact_type=None if via_config else artifact_type,
        subject=subject,
        annotations=annotations,
    )
    response = put_manifest(client, name, sha256(body), body)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == subject["digest"]
    return Pushed(body, sha256(body), OCI_MANIFEST)


def referrers(client: httpx.Client, name: str, digest: str, **params: str) -> httpx.Response:
    response = client.get(f"/v2/{name}/referrers/{digest}", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == OCI_INDEX
    return response


def index_of(response: httpx.Response) -> list[dict[str, Any]]:
    body: dict[str, Any] = response.json()
    assert body["schemaVersion"] == 2
    assert body["mediaType"] == OCI_INDEX
    manifests: list[dict[str, Any]] = body["manifests"]
    return manifests


def test_referrers_lists_descriptors(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    sbom = push_referrer(client, name, subject_of(image), SBOM, {"kind": "sbom"})
    sig = push_referrer(client, name, subject_of(image), SIGNATURE, {"kind": "sig", "n": "1"})
    found = index_of(referrers(client, name, image.digest))
    by_digest = {d["digest"]: d for d in found}
    assert set(by_digest) == {sbom.digest, sig.digest}
    assert by_digest[sbom.digest] == {
        "mediaType": OCI_MANIFEST,
        "digest": sbom.digest,
        "size": len(sbom.body),
        "artifactType": SBOM,
        "annotations": {"kind": "sbom"},
    }
    assert by_digest[sig.digest] == {
        "mediaType": OCI_MANIFEST,
        "digest": sig.digest,
        "size": len(sig.body),
        "artifactType": SIGNATURE,
        "annotations": {"kind": "sig", "n": "1"},
    }


def test_artifact_type_falls_back_to_config_media_type(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    ref = push_referrer(client, name, subject_of(image), SBOM, {"a": "b"}, via_config=True)
    (found,) = index_of(referrers(client, name, image.digest))
    assert found["digest"] == ref.digest
    assert found["artifactType"] == SBOM


def test_referrers_filtered_by_artifact_type(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    sbom = push_referrer(client, name, subject_of(image), SBOM, {"kind": "sbom"})
    push_referrer(client, name, subject_of(image), SIGNATURE, {"kind": "sig"})
    response = referrers(client, name, image.digest, artifactType=SBOM)
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert [d["digest"] for d in index_of(response)] == [sbom.digest]
    response = referrers(client, name, image.digest, artifactType="application/vnd.none")
    assert response.headers["oci-filters-applied"] == "artifactType"
    assert index_of(response) == []


def test_referrers_of_unknown_digest_is_empty_index(client: httpx.Client) -> None:
    name = repo("ref")
    push_image(client, name, "v1")
    unknown = sha256(random_bytes())
    assert index_of(referrers(client, name, unknown)) == []
    # Even in a repository that does not exist.
    assert index_of(referrers(client, repo("ref"), unknown)) == []


def test_referrers_to_a_subject_pushed_later(client: httpx.Client) -> None:
    name = repo("ref")
    config = random_bytes()
    push_blob(client, name, config)
    future = image_manifest(config, annotations={"pushed": "later"})
    future_subject = {"mediaType": OCI_MANIFEST, "digest": sha256(future), "size": len(future)}
    ref = push_referrer(client, name, future_subject, SBOM, {"x": "y"})
    assert [d["digest"] for d in index_of(referrers(client, name, sha256(future)))] == [ref.digest]
    push_manifest(client, name, "later", future)
    assert [d["digest"] for d in index_of(referrers(client, name, sha256(future)))] == [ref.digest]


def test_referrers_are_scoped_to_the_repository(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    push_referrer(client, name, subject_of(image), SBOM, {"k": "v"})
    assert index_of(referrers(client, repo("ref"), image.digest)) == []


def test_index_referrer_with_subject(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    child = push_image(client, name)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": SBOM,
        "manifests": [
            {"mediaType": child.media_type, "digest": child.digest, "size": len(child.body)}
        ],
        "subject": subject_of(image),
        "annotations": {"index": "yes"},
    }
    body = encode(document)
    response = put_manifest(client, name, sha256(body), body, OCI_INDEX)
    assert response.status_code == 201, response.text
    assert response.headers["oci-subject"] == image.digest
    (found,) = index_of(referrers(client, name, image.digest))
    assert found == {
        "mediaType": OCI_INDEX,
        "digest": sha256(body),
        "size": len(body),
        "artifactType": SBOM,
        "annotations": {"index": "yes"},
    }


def test_no_oci_subject_header_without_subject(client: httpx.Client) -> None:
    name = repo("ref")
    child = push_image(client, name)
    response = put_manifest(client, name, "idx", index_manifest([child]), OCI_INDEX)
    assert response.status_code == 201
    assert "oci-subject" not in response.headers


def test_deleted_referrer_leaves_the_list(client: httpx.Client) -> None:
    name = repo("ref")
    image = push_image(client, name, "v1")
    gone = push_referrer(client, name, subject_of(image), SBOM, {"k": "gone"})
    kept = push_referrer(client, name, subject_of(image), SBOM, {"k": "kept"})
    assert client.delete(f"/v2/{name}/manifests/{gone.digest}").status_code == 202
    assert [d["digest"] for d in index_of(referrers(client, name, image.digest))] == [kept.digest]


def test_referrers_with_invalid_digest(client: httpx.Client) -> None:
    response = client.get(f"/v2/{repo('ref')}/referrers/sha256:nothex")
    assert_oci_error(response, 400, "DIGEST_INVALID")
