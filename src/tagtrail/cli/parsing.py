"""The argument parser of every (sub)command: errors in the usage of the command they belong to,
with the closest spelling when a choice or an option is mistyped (Python 3.11's argparse has no
``suggest_on_error``)."""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

PARSER = "_parser"  # the namespace attribute naming the innermost parser a command line reached


class Parser(argparse.ArgumentParser):
    """``add_subparsers`` makes its subcommands of this class too (argparse's default)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A subcommand's namespace is copied over its parent's, so the innermost parser's
        # default is the one left: unknown arguments are reported with its usage.
        self.set_defaults(**{PARSER: self})

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            guess = _closest(value, action.choices or ()) if isinstance(value, str) else None
            if guess is None:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}; did you mean {guess}?") from None

    def reject(self, unknown: Sequence[str]) -> NoReturn:
        """Exit as ``parse_args`` would for ``unknown`` arguments, but with this parser's usage
        (argparse reports them with the top-level one) and a close option if there is one."""
        options = [o for action in self._actions for o in action.option_strings]
        guesses = [
            guess
            for word in unknown
            if word.startswith("-")
            for guess in [_closest(word.partition("=")[0], options)]
            if guess is not None
        ]
        hint = f"; did you mean {', '.join(dict.fromkeys(guesses))}?" if guesses else ""
        self.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")


def _closest(word: str, candidates: Iterable[Any]) -> str | None:
    names = [str(c) for c in candidates]
    found = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return found[0] if found else None
