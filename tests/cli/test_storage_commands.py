"""``admin``, ``gc`` and ``db`` on the server's storage: they never create a database, say
which storage they work on, take their storage flags anywhere, and fail in one line.

The commands run in this process (``tests.cli.helpers.tagtrail``: the entry point's code
without a process start-up each); one test runs them as processes, for the exit status and
output of ``python -m tagtrail`` itself."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tagtrail.cli.main import build_parser
from tagtrail.meta.migrate import HEAD_REVISION, upgrade_to_head
from tests.cli.helpers import one_line_error, tagtrail, tagtrail_process
from tests.postgres import fresh_database

LOOKING_COMMANDS = [
    ["admin", "org", "create", "early"],
    ["admin", "user", "add", "early"],
    ["admin", "token", "list"],
    ["admin", "key", "rotate"],
    ["gc"],
    ["gc", "--dry-run"],
    ["db", "current"],
]


@pytest.mark.parametrize("command", LOOKING_COMMANDS, ids=" ".join)
def test_no_database_in_the_working_directory_is_an_error_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    line = one_line_error(tagtrail(*command, cwd=tmp_path))
    assert str(tmp_path / "tagtrail-data" / "tagtrail.db") in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", LOOKING_COMMANDS, ids=" ".join)
def test_no_database_in_the_data_dir_given_is_an_error_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()  # an existing directory without a database: a wrong --data-dir
    line = one_line_error(tagtrail(*command, "--data-dir", str(data)))
    assert f"no database at {data / 'tagtrail.db'}" in line
    assert list(data.iterdir()) == []


def test_as_a_process_failures_are_one_line_and_the_exit_status(tmp_path: Path) -> None:
    """What the in-process runs above stand for: a process prints the same single line (no
    traceback, no logging around it) and exits with the code ``main`` returned, 1 for a
    refusal, 2 for a usage error (argparse's SystemExit)."""
    line = one_line_error(tagtrail_process("admin", "org", "list", cwd=tmp_path))
    assert line == one_line_error(tagtrail("admin", "org", "list", cwd=tmp_path))
    assert str(tmp_path / "tagtrail-data" / "tagtrail.db") in line
    assert list(tmp_path.iterdir()) == []
    usage = tagtrail_process("gc", "--dryrun")
    assert usage.returncode == 2 and usage.stdout == "", usage.stdout
    assert usage.stderr == tagtrail("gc", "--dryrun").stderr
    assert usage.stderr.splitlines()[-1].endswith("did you mean --dry-run?"), usage.stderr


def test_db_upgrade_creates_the_database_the_others_then_use(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    upgraded = tagtrail("db", "upgrade", "--data-dir", str(data))
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"schema upgraded from nothing to {HEAD_REVISION}"
    assert (data / "tagtrail.db").is_file()
    created = tagtrail("admin", "org", "create", "acme", "--data-dir", str(data))
    assert created.returncode == 0, created.stderr
    listed = tagtrail("admin", "org", "list", "--data-dir", str(data))
    assert listed.stdout.splitlines() == ["acme  private  no members"]


def test_postgresql_without_the_database_or_its_schema_is_an_error(tmp_path: Path) -> None:
    with fresh_database() as url:
        for command in (["admin", "org", "list"], ["gc"]):
            line = one_line_error(tagtrail(*command, env={"TAGTRAIL_DATABASE_URL": url}))
            assert line.startswith(f"tagtrail: no tagtrail schema in {url}"), line
        current = tagtrail("db", "current", "--database-url", url)
        assert current.stdout.strip() == f"nothing (head is {HEAD_REVISION})", current.stderr
        absent = url + "_absent"
        name = absent.rpartition("/")[2]
        for command in (["admin", "org", "list"], ["gc"], ["db", "current"], ["db", "upgrade"]):
            done = tagtrail(*command, env={"TAGTRAIL_DATABASE_URL": absent})
            line = one_line_error(done)
            assert line == f'tagtrail: no database at {absent}: database "{name}" does not exist'


def test_an_older_schema_is_refused_not_migrated(tmp_path: Path) -> None:
    """Only ``db upgrade`` (and ``serve`` with migrate_on_start) migrate: an admin command of
    a newer version must not change the schema under the servers still running."""
    path = tmp_path / "tagtrail.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        upgrade_to_head(connection, "0002")
    engine.dispose()
    for command in (["admin", "user", "list"], ["gc"]):
        line = one_line_error(tagtrail(*command, "--data-dir", str(tmp_path)))
        assert line == (
            f"tagtrail: database schema is at 0002, this version needs {HEAD_REVISION}: "
            "run `tagtrail db upgrade`"
        )
    current = tagtrail("db", "current", "--data-dir", str(tmp_path))
    assert current.stdout.strip() == f"0002 (head is {HEAD_REVISION})"


def test_verbose_names_the_database_and_the_blob_storage(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = f"tagtrail: database: sqlite+aiosqlite:///{data / 'tagtrail.db'}"
    storage = f"tagtrail: blob storage: {data}"
    upgraded = tagtrail("db", "upgrade", "-v", "--data-dir", str(data))
    assert upgraded.stderr.splitlines() == [database, storage]
    listed = tagtrail("admin", "user", "list", "--verbose", "--data-dir", str(data))
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr.splitlines() == [database, storage]
    quiet = tagtrail("admin", "user", "list", "--data-dir", str(data))
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    elsewhere = tmp_path / "elsewhere"
    refused = tagtrail("gc", "-v", "--data-dir", str(elsewhere))
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[:2] == [
        f"tagtrail: database: sqlite+aiosqlite:///{elsewhere / 'tagtrail.db'}",
        f"tagtrail: blob storage: {elsewhere}",
    ]


def test_storage_flags_go_before_or_after_any_subcommand(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert tagtrail("db", "--data-dir", str(data), "upgrade").returncode == 0
    config = tmp_path / "tagtrail.toml"
    config.write_text(f'data_dir = "{data}"\n')
    for where in (
        ["admin", "--data-dir", str(data), "org", "create", "one"],
        ["admin", "org", "--data-dir", str(data), "create", "two"],
        ["admin", "org", "create", "three", "--data-dir", str(data)],
        ["admin", "org", "create", "--config", str(config), "four"],
        ["admin", "--config", str(config), "org", "member", "add", "--role", "pull", "one", "x"],
    ):
        done = tagtrail(*where, cwd=tmp_path)
        assert "error: unrecognized arguments" not in done.stderr, done.stderr
        if "member" in where:  # parsed, and run on the database: there is no user x
            assert one_line_error(done) == "tagtrail: user x does not exist"
        else:
            assert done.returncode == 0, done.stderr
    listed = tagtrail("admin", "org", "list", "--config", str(config))
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [
        "four",
        "one",
        "three",
        "two",
    ]
    current = tagtrail("db", "current", "--config", str(config), "-v")
    assert current.stdout.strip() == f"{HEAD_REVISION} (head)"
    assert f"blob storage: {data}" in current.stderr


def test_settings_errors_are_one_line_naming_where_the_value_came_from(tmp_path: Path) -> None:
    line = one_line_error(tagtrail("gc", "--retention-days", "0"), code=2)
    assert line == (
        "tagtrail: invalid settings: --retention-days 0: input should be greater than or equal to 1"
    )
    line = one_line_error(tagtrail("gc", env={"TAGTRAIL_GC_GRACE_SECONDS": "-1"}), code=2)
    assert line == (
        "tagtrail: invalid settings: TAGTRAIL_GC_GRACE_SECONDS=-1: "
        "input should be greater than or equal to 0"
    )
    config = tmp_path / "bad.toml"
    config.write_text('workers = "many"\nbogus = 1\n[s3]\nbucket = "b"\nsecret_access_key = 7\n')
    line = one_line_error(tagtrail("admin", "user", "list", "--config", str(config)), code=2)
    assert f"workers = many in {config}: input should be a valid integer" in line
    assert f"bogus = 1 in {config}: extra inputs are not permitted" in line
    assert f"s3.secret_access_key = (hidden) in {config}" in line
    assert "7" not in line.replace(str(config), "")
    s3 = '{"bucket": 5, "secret_access_key": "do-not-print"}'
    line = one_line_error(tagtrail("gc", env={"TAGTRAIL_BLOB_STORE": "s3", "TAGTRAIL_S3": s3}), 2)
    assert (
        line
        == "tagtrail: invalid settings: TAGTRAIL_S3 (s3.bucket): input should be a valid string"
    )
    config.write_text("workers = [\n")
    line = one_line_error(tagtrail("db", "current", "--config", str(config)), code=2)
    assert line.startswith(f"tagtrail: {config}: ")
    line = one_line_error(tagtrail("gc", env={"TAGTRAIL_DATABASE_URL": "pw-in-a-typo"}), code=2)
    assert line.startswith("tagtrail: invalid settings: database_url is not a database URL")
    assert "pw-in-a-typo" not in line
    unknown = {"TAGTRAIL_DATABASE_URL": "foo://u:secret@h/db"}
    line = one_line_error(tagtrail("admin", "user", "list", env=unknown))
    assert line.startswith("tagtrail: the database foo://u:***@h/db is unavailable: "), line
    missing = tmp_path / "missing.toml"
    line = one_line_error(tagtrail("gc", "--config", str(missing)), code=2)
    assert line == f"tagtrail: config file not found: {missing}"


@pytest.mark.parametrize(
    ("argv", "usage", "hint"),
    [
        (["gc", "--dryrun"], "usage: tagtrail gc ", "did you mean --dry-run?"),
        (["gc", "--zzz"], "usage: tagtrail gc ", None),
        (
            ["admin", "org", "create", "x", "--visiblity", "public"],
            "usage: tagtrail admin org create ",
            "did you mean --visibility?",
        ),
        (["admin", "org", "lst"], "usage: tagtrail admin org ", "did you mean list?"),
        (["histroy", "x:y"], "usage: tagtrail ", "did you mean history?"),
        (
            ["history", "--oldest-frist", "x:y"],
            "usage: tagtrail history ",
            "did you mean --oldest-first?",
        ),
        (["db", "curent"], "usage: tagtrail db ", "did you mean current?"),
    ],
)
def test_usage_errors_show_the_subcommands_usage_and_a_close_match(
    argv: list[str], usage: str, hint: str | None
) -> None:
    done = tagtrail(*argv)
    assert done.returncode == 2, done.stdout
    assert done.stderr.startswith(usage), done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"{usage.removeprefix('usage: ').strip()}: error: "), last
    if hint is None:
        assert "did you mean" not in done.stderr
    else:
        assert last.endswith(hint), last


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.extend(_parsers(sub))
    return found


def test_every_admin_argument_and_command_has_help() -> None:
    (admin,) = (
        a.choices["admin"]
        for a in build_parser("admin")._actions
        if isinstance(a, argparse._SubParsersAction)
    )
    parsers = _parsers(admin)
    assert len(parsers) > 15
    for parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{parser.prog} {choice.dest}"
            elif not isinstance(action, argparse._HelpAction):
                assert action.help, (
                    f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
                )
