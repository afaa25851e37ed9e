"""The filesystem driver's upload writers: every byte lands where it belongs whatever the
pieces' sizes and the starting offset, and direct writes keep uploads out of the page cache."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from tagtrail.blobs.upload_writers import (
    ALIGNMENT,
    DirectWriter,
    SyncingWriter,
    UploadWriter,
    writer_for,
)

MiB = 1024 * 1024


def _append(path: Path, offset: int, pieces: list[bytes]) -> tuple[int, type[UploadWriter]]:
    """Append as filesystem.py does: truncate at ``offset``, write, close; the new end."""
    with path.open("r+b") as handle:
        handle.truncate(offset)
        handle.seek(offset)
        writer = writer_for(path, handle, offset)
        for piece in pieces:
            writer.write(piece)
        writer.close()
        return handle.tell(), type(writer)


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _resident_bytes(path: Path) -> int:
    """Bytes of ``path`` in the page cache (util-linux's fincore)."""
    answer = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(answer.stdout.strip())


@pytest.mark.parametrize("piece", [1000, ALIGNMENT - 1, ALIGNMENT + 1, 65_539, MiB, MiB + 1])
@pytest.mark.parametrize("total", [0, 10, ALIGNMENT, 3 * MiB, 3 * MiB + 12_345])
def test_bytes_arrive_whole_in_order_whatever_the_piece_sizes(
    tmp_path: Path, piece: int, total: int
) -> None:
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(total)
    end, kind = _append(path, 0, _pieces(data, piece))
    assert kind is DirectWriter
    assert end == total
    assert path.read_bytes() == data


def test_a_resumed_upload_continues_at_its_offset_aligned_or_not(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    first, second, third = os.urandom(ALIGNMENT * 3), os.urandom(5_000), os.urandom(2 * MiB + 7)
    assert _append(path, 0, [first]) == (len(first), DirectWriter)
    # Bytes past the recorded offset (a failed request's) are cut before the next append.
    with path.open("ab") as handle:
        handle.write(b"never recorded")
    assert _append(path, len(first), [second]) == (len(first + second), DirectWriter)
    offset = len(first + second)  # mid-block: the page cache path
    assert _append(path, offset, _pieces(third, 70_000)) == (offset + len(third), SyncingWriter)
    assert path.read_bytes() == first + second + third


def test_direct_writes_leave_the_upload_out_of_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(8 * MiB + 100)
    _append(path, 0, _pieces(data, 256 * 1024))
    # At most the unaligned tail went through the page cache.
    assert _resident_bytes(path) <= ALIGNMENT
    assert path.read_bytes() == data


def test_a_filesystem_without_direct_io_gets_the_page_cache_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def no_direct_io(path: str, flags: int, *args: int) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "direct I/O not supported")  # as older tmpfs answers
        return real_open(path, flags, *args)

    monkeypatch.setattr("tagtrail.blobs.upload_writers.os.open", no_direct_io)
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(2 * MiB + 3)
    assert _append(path, 0, _pieces(data, 100_000)) == (len(data), SyncingWriter)
    assert path.read_bytes() == data


def test_a_filesystem_refusing_a_direct_write_gets_the_rest_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise OSError(errno.EINVAL, "alignment")

    monkeypatch.setattr("tagtrail.blobs.upload_writers.os.pwrite", refuse)
    path = tmp_path / "upload"
    path.touch()
    data = os.urandom(3 * MiB + 5)
    assert _append(path, 0, _pieces(data, MiB // 3)) == (len(data), DirectWriter)
    assert path.read_bytes() == data
