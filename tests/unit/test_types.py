"""Value types: names, tags, digests and timestamps as the wire formats define them."""

from __future__ import annotations

import pytest

from tagtrail.errors import DigestInvalid, NameInvalid, TagInvalid, TimestampInvalid
from tagtrail.types import Digest, format_timestamp, parse_name, parse_tag, parse_timestamp


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


def test_timestamps_round_trip_at_millisecond_precision() -> None:
    assert format_timestamp(1683899170555) == "2023-05-12T13:46:10.555Z"
    assert parse_timestamp("2023-05-12T13:46:10.555Z") == 1683899170555
    assert parse_timestamp("2023-05-12T15:46:10.555+02:00") == 1683899170555
    assert parse_timestamp("2023-05-12") == 1683849600000
    # A finer bound rounds so that it keeps the same millisecond records.
    assert parse_timestamp("2023-05-12T13:46:10.5551Z") == 1683899170555
    assert parse_timestamp("2023-05-12T13:46:10.5551Z", round_up=True) == 1683899170556
    assert parse_timestamp("2023-05-12T13:46:10.555Z", round_up=True) == 1683899170555
    for raw in ["yesterday", "2023-13-01", "", "1683899170"]:
        with pytest.raises(TimestampInvalid):
            parse_timestamp(raw)


def test_formatted_timestamps_always_carry_milliseconds_and_parse_back() -> None:
    for ms in (0, 1, 999, 1_000, 1683899170000, 1683899170555, 253402300799999):
        text = format_timestamp(ms)
        assert len(text) == 24 and text.endswith("Z") and text[19] == "."
        assert parse_timestamp(text) == ms
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_stored_digests_read_back_as_parsed() -> None:
    digest = Digest.of(b"abc")
    assert Digest.stored(str(digest)) == digest == Digest.parse(str(digest))


def test_unencoded_plus_of_an_offset_is_accepted() -> None:
    # curl users write start=...+02:00 unencoded; the query string turns "+" into a space.
    assert parse_timestamp("2023-05-12T15:46:10.555 02:00") == 1683899170555
