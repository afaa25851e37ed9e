"""``tagtrail admin``: the commands and their arguments (what they do: ``admin_actions``).

Works directly on the configured database, with the server up or down, and never creates it.
"""

from __future__ import annotations

import argparse
from typing import Any

from tagtrail.accounts import ROLES
from tagtrail.cli import webhook_args
from tagtrail.cli.common import storage_options
from tagtrail.times import parse_duration

_VISIBILITY = "private, public, or public-tags=TAG[,TAG...] (globs: only those tags are public)"


def duration_seconds(raw: str) -> int:
    """Seconds in a duration such as ``720h``, ``30d`` or ``1h30m``."""
    try:
        return int(parse_duration(raw).total_seconds())
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def register(commands: Any) -> None:
    storage = storage_options()
    admin = commands.add_parser(
        "admin",
        parents=[storage],
        help="administer accounts and mirrors (server up or down)",
        description="Users, organisations, visibility, pull tokens, signing keys and mirrors, "
        "changed directly in the server's database (up or down). The database must exist: "
        "`tagtrail serve` or `tagtrail db upgrade` creates it.",
    )
    groups = admin.add_subparsers(dest="group", required=True)

    def group(name: str, help_text: str) -> Any:
        parser = groups.add_parser(name, parents=[storage], help=help_text)
        return parser.add_subparsers(dest="verb", required=True)

    def command(parent: Any, kind: str, name: str, help_text: str) -> argparse.ArgumentParser:
        """``admin KIND NAME``, run by ``admin_actions.KIND_NAME``."""
        description = help_text[:1].upper() + help_text[1:] + "."
        parser: argparse.ArgumentParser = parent.add_parser(
            name, parents=[storage], help=help_text, description=description
        )
        parser.set_defaults(run=run, action=f"{kind}_{name}")
        return parser

    _users(group("user", "users"), command)
    _organisations(groups, storage, command)
    repos = group("repo", "repositories")
    repo = command(repos, "repo", "visibility", "set who may pull a repository without a role")
    repo.add_argument("name", help="the repository, e.g. acme/app")
    repo.add_argument("visibility", help=_VISIBILITY)
    _tokens(group("token", "pull tokens (robot credentials of one organisation)"), command)
    _mirrors(group("mirror", "upstream registries mirrored under a local prefix"), command)
    _rules(group("rule", "immutable-tag rules: tags created once, never moved or deleted"), command)
    webhook_args.register(group("webhook", "URLs told of every tag move (webhooks)"), command)
    keyring = group("key", "token signing keys and the web UI's session keys")
    rotate = command(
        keyring, "key", "rotate", "make a new signing key; the old one keeps verifying"
    )
    rotate.add_argument(
        "--sessions",
        action="store_true",
        help="the web UI's session key instead: signed-in sessions stay valid",
    )


def _users(users: Any, command: Any) -> None:
    for name, text in (
        ("add", "add a user (a password is generated and printed unless --password-stdin)"),
        ("passwd", "set a user's password (generated and printed unless --password-stdin)"),
    ):
        parser = command(users, "user", name, text)
        parser.add_argument("name", help="the user's name")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
        if name == "add":
            parser.add_argument(
                "--admin", action="store_true", help="an administrator: may do everything"
            )
    command(users, "user", "rm", "remove a user and their memberships").add_argument(
        "name", help="the user's name"
    )
    command(users, "user", "list", "list users")


def _organisations(groups: Any, storage: argparse.ArgumentParser, command: Any) -> None:
    org = groups.add_parser(
        "org",
        parents=[storage],
        help="organisations (each owns the repositories under its name: acme owns acme/app)",
    )
    orgs = org.add_subparsers(dest="verb", required=True)
    create = command(orgs, "org", "create", "create an organisation")
    create.add_argument("name", help="the organisation: the first component of its repositories")
    create.add_argument(
        "--visibility", default="private", help=f"its repositories' default: {_VISIBILITY}"
    )
    command(orgs, "org", "list", "list organisations, their visibility and members")
    remove = command(
        orgs,
        "org",
        "rm",
        "remove an organisation with its memberships and pull tokens (its repositories and "
        "their own visibility settings stay)",
    )
    remove.add_argument("name", help="the organisation")
    visibility = command(
        orgs, "org", "visibility", "set the default visibility of its repositories"
    )
    visibility.add_argument("name", help="the organisation")
    visibility.add_argument("visibility", help=_VISIBILITY)
    members = orgs.add_parser("member", parents=[storage], help="members and their roles")
    member = members.add_subparsers(dest="how", required=True)
    add = command(member, "member", "add", "add a member, or change their role")
    add.add_argument("org", help="the organisation")
    add.add_argument("user", help="the user")
    add.add_argument(
        "--role",
        choices=ROLES,
        default="pull",
        help="pull; push (and pull); admin (and delete) (default: pull)",
    )
    remove_member = command(member, "member", "rm", "remove a member")
    remove_member.add_argument("org", help="the organisation")
    remove_member.add_argument("user", help="the user")


def _tokens(tokens: Any, command: Any) -> None:
    create = command(tokens, "token", "create", "create a pull token (its secret is printed once)")
    create.add_argument("--org", required=True, help="the organisation whose repositories it reads")
    create.add_argument("--pull", action="store_true", help="pull (always granted)")
    create.add_argument("--push", action="store_true", help="push as well")
    create.add_argument(
        "--ttl", type=duration_seconds, help="lifetime, e.g. 720h, 30d, 1h30m (default: no expiry)"
    )
    create.add_argument("--description", default="", help="a note shown by `token list`")
    command(tokens, "token", "list", "list pull tokens").add_argument(
        "--org", help="only this organisation's (default: all)"
    )
    command(tokens, "token", "revoke", "revoke a pull token").add_argument(
        "id", help="the token's id (ttp_..., as `token list` shows)"
    )


def _mirrors(mirrors: Any, command: Any) -> None:
    add = command(
        mirrors,
        "mirror",
        "add",
        "register an upstream under a prefix (an organisation of its own, private unless it "
        "exists); pushes into the prefix are then refused",
    )
    add.add_argument("prefix", help="the local prefix, e.g. hub: hub/python mirrors python")
    add.add_argument("url", help="the upstream registry, e.g. https://registry-1.docker.io")
    add.add_argument("--username", help="the user name on the upstream (default: anonymous)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the upstream password from standard input (stored sealed, never shown)",
    )
    add.add_argument(
        "--check-interval",
        type=duration_seconds,
        default=60,
        help="how often a tag is asked of the upstream, e.g. 60s, 5m (default: 60s)",
    )
    add.add_argument(
        "--no-check", action="store_true", help="register without asking the upstream's /v2/"
    )
    command(mirrors, "mirror", "list", "list mirrors, their status and watches (never passwords)")
    command(
        mirrors,
        "mirror",
        "rm",
        "forget an upstream: its organisation and what was mirrored stay, and take pushes",
    ).add_argument("prefix", help="the mirror's prefix")
    _watches(mirrors, command)
    for parser in mirrors.choices.values():
        parser.set_defaults(run=_run_mirror)


def _watches(mirrors: Any, command: Any) -> None:
    repository_help = "the mirrored repository, <prefix>/<upstream repository>, e.g. hub/python"
    watch = command(
        mirrors,
        "mirror",
        "watch",
        "watch an upstream repository: the server checks its tags every interval (HEAD "
        "requests) and fetches and records each move",
    )
    watch.add_argument("repository", help=repository_help)
    watch.add_argument(
        "--tags", metavar="REGEX", help="only tags this regex matches in full (default: all)"
    )
    watch.add_argument(
        "--exclude", metavar="REGEX", help="leave out tags this regex matches in full"
    )
    watch.add_argument(
        "--interval",
        type=duration_seconds,
        default=300,
        help="time between rounds, at least 1s, e.g. 30s, 5m, 1h (default: 5m)",
    )
    watch.add_argument(
        "--platforms",
        metavar="OS/ARCH,...",
        help="of an index, only these children (and their blobs), e.g. linux/amd64,linux/arm64/v8 "
        "(default: all)",
    )
    command(
        mirrors, "mirror", "unwatch", "stop watching an upstream repository (what it got stays)"
    ).add_argument("repository", help=repository_help)
    command(
        mirrors,
        "mirror",
        "sync",
        "run one round of a repository's watch now, here (every tag when it is not watched); "
        "progress on a terminal, a summary after",
    ).add_argument("repository", help=repository_help)


def _rules(rules: Any, command: Any) -> None:
    add = command(
        rules,
        "rule",
        "add",
        "make matching tags immutable: created once, then never moved or deleted (pushing "
        "the same digest again is accepted)",
    )
    add.add_argument(
        "target", help="<org> or <org>/<repository>; the repository part may be a glob (app-*)"
    )
    add.add_argument(
        "--immutable", required=True, metavar="PATTERN", help="tags this glob matches, e.g. v*"
    )
    add.add_argument(
        "--except",
        dest="exceptions",
        action="append",
        metavar="PATTERN",
        help="exempt tags this glob matches, e.g. latest (may be given again)",
    )
    listing = command(rules, "rule", "list", "list rules in force (or removed ones)")
    listing.add_argument("org", nargs="?", help="only this organisation's (default: all)")
    listing.add_argument(
        "--removed", action="store_true", help="the removed rules: who removed each, when"
    )
    command(rules, "rule", "rm", "remove a rule (recorded: who, when)").add_argument(
        "id", type=int, help="the rule's number, as `rule list` shows it (#3: 3)"
    )
    for parser in rules.choices.values():
        parser.set_defaults(run=_run_rule)


def _run_rule(args: argparse.Namespace) -> int:
    from tagtrail.cli.rule_actions import run as run_action

    return run_action(args)


def _run_mirror(args: argparse.Namespace) -> int:
    from tagtrail.cli.mirror_actions import run as run_action

    return run_action(args)


def run(args: argparse.Namespace) -> int:
    from tagtrail.cli.admin_actions import run as run_action

    return run_action(args)
