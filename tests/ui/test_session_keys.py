"""The session cookie's codec and key file, in this process: rotation, forgery, expiry, and a
key file that concurrent first starts create once, whole, readable by its owner only."""

from __future__ import annotations

import base64
import json
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tagtrail.ui.session import (
    KEY_FILE,
    LIFETIME_SECONDS,
    Codec,
    KeyFileInvalid,
    Session,
    load_keys,
    rotate_keys,
)

OLD, NEW, OTHER = b"o" * 32, b"n" * 32, b"x" * 32


def _signed(keys: list[bytes], subject: str = "user:alice", at: float | None = None) -> str:
    codec = Codec(keys) if at is None else Codec(keys, clock=lambda: at)
    return codec.encode(Session(subject, "csrf-token", 0))


def test_a_cookie_of_the_old_key_still_reads_after_a_rotation() -> None:
    before = _signed([OLD])
    rotated = Codec([OLD, NEW])
    read = rotated.decode(before)
    assert read is not None and read.subject == "user:alice" and read.csrf == "csrf-token"
    # The newest key signs: a server that has not rotated yet cannot read the new cookie,
    # and once the old key is retired its cookies read as none.
    after = rotated.encode(Session("user:bob", "t", 0))
    assert Codec([NEW]).decode(after) is not None
    assert Codec([OLD]).decode(after) is None
    assert Codec([NEW]).decode(before) is None


def test_forged_cookies_read_as_none() -> None:
    good = _signed([OLD])
    payload, timestamp, signature = good.rsplit(".", 2)
    admin = base64.urlsafe_b64encode(json.dumps({"sub": "user:admin", "csrf": "c"}).encode())
    forged = [
        _signed([OTHER]),  # signed by a key the server does not hold
        f"{admin.decode().rstrip('=')}.{timestamp}.{signature}",  # another subject, old MAC
        f"{payload}.{timestamp}.{'A' * len(signature)}",
        f"{payload}.{timestamp}",
        payload,
        "x.y.z",
        "",
    ]
    codec = Codec([OLD])
    for value in forged:
        assert codec.decode(value) is None, value
    assert codec.decode(good) is not None


def test_a_cookie_expires_a_lifetime_after_signing() -> None:
    now = time.time()
    codec = Codec([OLD])
    expired = _signed([OLD], at=now - LIFETIME_SECONDS - 5)
    assert codec.decode(expired) is None
    alive = _signed([OLD], at=now - LIFETIME_SECONDS + 60)
    read = codec.decode(alive)
    assert read is not None
    assert abs(read.expires - (now + 60)) <= 2  # the cookie's Max-Age counts from signing
    # A cookie signed "in the future" (a forged timestamp) is refused too.
    assert codec.decode(_signed([OLD], at=now + 3600)) is None


def test_a_payload_of_the_wrong_shape_reads_as_none() -> None:
    codec = Codec([OLD])
    serializer = codec._serializer
    for body in ([1, 2], {"sub": 5, "csrf": "c"}, {"sub": None}, "text"):
        assert codec.decode(serializer.dumps(body)) is None, body
    anonymous = codec.decode(serializer.dumps({"sub": None, "csrf": "c"}))
    assert anonymous is not None and anonymous.subject is None


def test_concurrent_first_starts_make_one_key_file(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    with ThreadPoolExecutor(16) as pool:
        found = list(pool.map(lambda _: load_keys(keys_dir), range(64)))
    assert all(keys == found[0] for keys in found) and len(found[0]) == 1
    path = keys_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in keys_dir.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_rotation_appends_and_keeps_the_old_keys(tmp_path: Path) -> None:
    first = load_keys(tmp_path)
    assert rotate_keys(tmp_path) == 2
    second = load_keys(tmp_path)
    assert second[0] == first[0] and second[1] != first[0]
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    # Signing uses the newest line: the key rotate_keys added.
    assert Codec(second[1:]).decode(Codec(second).encode(Session(None, "c", 0))) is not None


def test_a_malformed_key_file_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("# session keys\n" + "ab" * 32 + "  created today\nnot-hex\n")
    with pytest.raises(KeyFileInvalid, match=rf"{KEY_FILE}:3: not a key"):
        load_keys(tmp_path)
    path.write_text("abcd\n")  # too short to be a key
    with pytest.raises(KeyFileInvalid, match=rf"{KEY_FILE}:1: not a key"):
        load_keys(tmp_path)
    path.write_text("# nothing but notes\n")
    with pytest.raises(KeyFileInvalid, match="no key"):
        load_keys(tmp_path)
