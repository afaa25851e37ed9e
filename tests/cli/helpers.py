"""``tagtrail`` as a user runs it: a new process, in a directory of the test's, with no
TAGTRAIL_* settings but those given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tagtrail(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    return subprocess.run(
        [sys.executable, "-m", "tagtrail", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **(env or {})},
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The single line a failed command printed (and that it exited with ``code``)."""
    assert done.returncode == code, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    assert done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tagtrail: "), done.stderr
    return lines[0]
