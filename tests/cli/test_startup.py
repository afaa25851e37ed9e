"""Commands load lazily: ``--version`` and a client command's ``--help`` import none of the
server's libraries, yet ``--help`` lists every command and each command's ``--help`` works."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from tagtrail import __version__
from tagtrail.cli.main import COMMANDS, build_parser, main

SERVER_LIBRARIES = ("sqlalchemy", "alembic", "starlette", "jinja2", "granian", "aiobotocore")

# Runs ``main(argv)`` in a fresh interpreter, then prints which SERVER_LIBRARIES it loaded.
_PROBE = """
import sys
from tagtrail.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
loaded = sorted(m for m in sys.argv[1].split(",") if m in sys.modules)
print("loaded:", ",".join(loaded), file=sys.stderr)
"""


def loaded_by(*argv: str) -> tuple[list[str], str]:
    """(server libraries loaded, stdout) of ``tagtrail ARGV`` in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(SERVER_LIBRARIES), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("loaded:"), done.stderr
    return [m for m in last.removeprefix("loaded:").strip().split(",") if m], done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["--version"],
        ["--help"],
        ["history", "--help"],
        ["pin", "--help"],
        ["restore", "--help"],
        ["login", "--help"],
        # The storage commands' parsers too: their libraries load when they run.
        ["admin", "org", "create", "--help"],
        ["gc", "--help"],
        ["db", "current", "--help"],
    ],
)
def test_no_server_library_is_imported(argv: list[str]) -> None:
    loaded, out = loaded_by(*argv)
    assert loaded == [], f"tagtrail {' '.join(argv)} imported {loaded}"
    assert out.strip(), "printed nothing"


@pytest.mark.parametrize("name", ["history", "gc", "admin"])
def test_a_commands_help_imports_no_other_command(name: str) -> None:
    modules = ",".join(command.module for command in COMMANDS.values())
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, modules, name, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    loaded = done.stderr.strip().splitlines()[-1].removeprefix("loaded:").strip().split(",")
    assert loaded == [COMMANDS[name].module], done.stderr


def test_pyyaml_loads_only_for_yaml_output() -> None:
    """``history`` and ``pin`` load PyYAML (about 25 ms) only to write ``-o yaml``."""
    for argv in (["history", "--help"], ["pin", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, "yaml", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.stderr.strip().splitlines()[-1] == "loaded:", done.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"tagtrail {__version__}"


def test_top_level_help_lists_every_command_with_its_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps long summaries
    for name, command in COMMANDS.items():
        assert f"{name} {command.summary}" in out, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_registers_what_the_table_says(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table's summary is the one the command's module registers, and the command's own
    --help works."""
    parser = build_parser(name)
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    (registered,) = (a for a in commands._choices_actions if a.dest == name)
    assert registered.help == COMMANDS[name].summary
    assert commands.choices[name].add_help, f"{name} was not registered by its module"
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: tagtrail {name}")
