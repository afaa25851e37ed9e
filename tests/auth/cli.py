"""The admin CLI for the auth tests: the commands in this process, or real processes at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.auth.helpers import remember
from tests.cli.helpers import tagtrail


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    return {**clean, **(extra or {})}


def _command(data_dir: Path, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "tagtrail", "admin", "--data-dir", str(data_dir), *args]


def admin_cli(
    data_dir: Path,
    *args: str,
    stdin: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``tagtrail admin --data-dir DATA_DIR ARGS`` in this process, as ``tests.cli.helpers``
    runs it (a thread of its own, TAGTRAIL_* only from ``env``), exit code and output kept;
    asserts success unless ``check`` is off. ``admin_parallel`` runs processes."""
    done = tagtrail("admin", "--data-dir", str(data_dir), *args, env=env, stdin=stdin or "")
    if check:
        assert done.returncode == 0, f"admin {' '.join(args)}: {done.stdout}{done.stderr}"
    return done


def admin_parallel(
    data_dir: Path, *commands: tuple[Sequence[str], str | None], check: bool = True
) -> list[tuple[int, str]]:
    """Independent ``tagtrail admin`` processes at once: (exit code, stdout+stderr) each."""
    running = [
        (
            args,
            stdin,
            subprocess.Popen(
                _command(data_dir, args),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_env(),
            ),
        )
        for args, stdin in commands
    ]
    results = []
    for args, stdin, process in running:
        out, _ = process.communicate(stdin, timeout=60)
        assert not check or process.returncode == 0, f"admin {' '.join(args)}: {out}"
        results.append((process.returncode, out))
    return results


def admin(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """The same admin commands in this process: their output (they must succeed)."""
    return admin_cli(data_dir, *args, stdin=stdin).stdout


def add_user(data_dir: Path, name: str, password: str) -> None:
    remember(password)
    admin(data_dir, "user", "add", name, "--password-stdin", stdin=password + "\n")


@dataclass(frozen=True)
class PullToken:
    id: str
    secret: str


def parse_pull_token(output: str) -> PullToken:
    found = dict(re.findall(r"^(id|secret):\s+(\S+)$", output, re.MULTILINE))
    assert set(found) == {"id", "secret"}, output
    assert found["id"].startswith("ttp_") and found["secret"].startswith("ttp_"), output
    remember(found["secret"])
    return PullToken(found["id"], found["secret"])


def token_args(org: str, *, push: bool = False, ttl: str = "720h") -> list[str]:
    return ["token", "create", "--org", org, "--pull", *(["--push"] if push else []), "--ttl", ttl]


def create_pull_token(
    data_dir: Path, org: str, *, push: bool = False, ttl: str = "720h"
) -> PullToken:
    return parse_pull_token(admin(data_dir, *token_args(org, push=push, ttl=ttl)))
