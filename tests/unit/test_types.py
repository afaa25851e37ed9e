"""Value types: names, tags and digests as the wire formats define them."""

from __future__ import annotations

import pytest

from tagtrail.errors import DigestInvalid, NameInvalid, TagInvalid
from tagtrail.types import Digest, parse_name, parse_tag


@pytest.mark.parametrize(
    "name", ["a", "chainguard/python", "foo.com/chainguard-base", "a/b_c/d__e/f--g", "x" * 255]
)
def test_valid_names(name: str) -> None:
    assert parse_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "a/", "/a", "a//b", "a/../b", "..", "a-", "-a", "a___b", "a:b", "x" * 256, "a/./b"],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(NameInvalid):
        parse_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.2.3", "_x", "A" * 128])
def test_valid_tags(tag: str) -> None:
    assert parse_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "a/b", "A" * 129, "a b"])
def test_invalid_tags(tag: str) -> None:
    with pytest.raises(TagInvalid):
        parse_tag(tag)


def test_digests() -> None:
    digest = Digest.of(b"abc")
    assert Digest.parse(str(digest)) == digest
    assert str(Digest.of(b"abc", "sha512")).startswith("sha512:")
    for raw in ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256:../../etc", "x"]:
        with pytest.raises(DigestInvalid):
            Digest.parse(raw)
    with pytest.raises(DigestInvalid):
        Digest.parse("sha512:" + "a" * 64)


def test_stored_digests_read_back_as_parsed() -> None:
    digest = Digest.of(b"abc")
    assert Digest.stored(str(digest)) == digest == Digest.parse(str(digest))
