"""``tagtrail`` as a user runs it, in a directory of the test's, with no TAGTRAIL_* settings
but those given: ``tagtrail`` runs the command in this process (``main(argv)``, the code the
entry point runs, without paying ~1.5 s of interpreter and library start-up per call), and
``tagtrail_process`` runs a new process, for what only a process shows (the exit status of
``python -m tagtrail``, output written before or around ``main``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tagtrail.cli.main import main


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGTRAIL_")}
    return {**clean, **(env or {})}


@contextlib.contextmanager
def _isolated(env: dict[str, str] | None, cwd: Path | None, stdin: str) -> Iterator[None]:
    """os.environ as ``_environment`` makes it, ``cwd`` as the working directory and ``stdin``
    as standard input, all restored afterwards. Only TAGTRAIL_* and ``env``'s keys change, so
    that other threads of the test (pushers, say) never see an environment without PATH."""
    saved_environ, saved_stdin = dict(os.environ), sys.stdin
    for key in [key for key in os.environ if key.startswith("TAGTRAIL_")]:
        del os.environ[key]
    os.environ.update(env or {})
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            yield
    finally:
        sys.stdin = saved_stdin
        for key in [key for key in os.environ if key not in saved_environ]:
            del os.environ[key]
        os.environ.update(saved_environ)


@contextlib.contextmanager
def _warnings_to(err: io.StringIO) -> Iterator[None]:
    """Log records of WARNING and above into ``err``, as a process without logging set up
    prints them to its stderr (``logging.lastResort``); pytest's own handlers on the root
    logger would otherwise take them out of what the test sees."""
    handler = logging.StreamHandler(err)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _exit_code(argv: list[str]) -> int:
    """``main(argv)``'s exit code, a SystemExit's too (argparse's usage errors exit 2, --help
    and --version 0; ``sys.exit("message")`` prints the message and exits 1, as Python does)."""
    try:
        return main(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def tagtrail(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``tagtrail ARGS`` in this process: its exit code and what it printed to stdout and
    stderr. On a thread of its own, where no event loop runs (the commands call asyncio.run;
    the test's thread may be running one, Playwright's for one)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        _isolated(env, cwd, stdin),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _warnings_to(err),
        ThreadPoolExecutor(1, thread_name_prefix="tagtrail-cli") as thread,
    ):
        code = thread.submit(_exit_code, list(args)).result()
    command = ["tagtrail", *args]
    return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())


def tagtrail_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m tagtrail ARGS`` as a new process."""
    return subprocess.run(
        [sys.executable, "-m", "tagtrail", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_environment(env),
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


def tagtrail_on_a_terminal(*args: str) -> tuple[int, str, str]:
    """``tagtrail`` as a process whose standard error is a terminal (a pty), standard output a
    pipe: its exit status, what it drew on the terminal, and what it printed."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tagtrail", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**_environment(None), "TERM": "xterm-256color", "COLUMNS": "120"},
    )
    os.close(terminal)
    drawn = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the process closed its side
                    break
                if not chunk:
                    break
                drawn += chunk
            elif process.poll() is not None:
                break
        stdout = process.communicate(timeout=30)[0].decode()
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.wait(), drawn.decode(errors="replace"), stdout
