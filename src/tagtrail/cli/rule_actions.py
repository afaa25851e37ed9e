"""What ``tagtrail admin rule`` does (its arguments: ``admin``), on the tag-rule store.

Imported only when a rule command runs. These commands work on the database directly, as the
server's administrator; an organisation's admins remove rules over HTTP instead
(``DELETE /v2/_tagtrail/rules/<id>``, ``api.rules``). A removal made here is recorded as made by
``cli:<the operating-system user>``.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Awaitable, Callable

from tagtrail.cli.common import run_on_database, settings_from
from tagtrail.clock import now_ms
from tagtrail.meta.database import Database
from tagtrail.meta.rules import TagRule, parse_target
from tagtrail.meta.sql_rules import SqlTagRuleStore
from tagtrail.registry.tag_rules import TagRules
from tagtrail.times import format_timestamp

Action = Callable[[argparse.Namespace, TagRules], Awaitable[int]]


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if settings is None:
        return 2
    action = ACTIONS[args.action]

    async def on(database: Database) -> int:
        return await action(args, TagRules(SqlTagRuleStore(database)))

    return run_on_database(settings, on)


def local_actor() -> str:
    """Who a rule change made with the CLI is recorded as: whoever runs it, on this host."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "cli"


async def rule_add(args: argparse.Namespace, rules: TagRules) -> int:
    organisation, repository = parse_target(args.target)
    rule = await rules.add(
        TagRule(
            organisation,
            repository,
            args.immutable,
            tuple(args.exceptions or ()),
            created_ms=now_ms(),
            created_by=local_actor(),
        )
    )
    print(f"added rule {rule.describe()}: matching tags may be created once, never moved")
    return 0


async def rule_list(args: argparse.Namespace, rules: TagRules) -> int:
    """One rule a line: in force, or with ``--removed`` the removals (the audit record)."""
    for rule in await rules.listed(args.org, removed=args.removed):
        line = f"{rule.describe()}  added {_when(rule.created_ms)} by {rule.created_by or '?'}"
        if rule.removed_ms is not None:
            line += f"  removed {_when(rule.removed_ms)} by {rule.removed_by or '?'}"
        print(line)
    return 0


async def rule_rm(args: argparse.Namespace, rules: TagRules) -> int:
    removed = await rules.remove(args.id, by=local_actor())
    print(f"removed rule {removed.describe()} (`rule list --removed` shows it)")
    return 0


def _when(ms: int) -> str:
    return format_timestamp(ms, timespec="seconds")


ACTIONS: dict[str, Action] = {action.__name__: action for action in (rule_add, rule_list, rule_rm)}
