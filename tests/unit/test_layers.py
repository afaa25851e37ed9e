"""The layering of ``src/tagtrail`` (cli/api -> registry/auth -> meta/blobs -> types/errors), as
the import-linter contracts in pyproject.toml state it: imports point downward only, and the web
layers reach the stores and blob drivers through the registry's use cases alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_imports_keep_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    status = lint_imports(str(PYPROJECT), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert "0 broken" in report
