"""The error-code table: each code registered once, every error naming an entry of it, the
exception tree drawn in errors.py's docstring as it is, and the HTTP answer taken from the
table."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

import tagtrail.accounts
import tagtrail.api.http
import tagtrail.api.token
import tagtrail.auth.scopes
from tagtrail import error_codes, errors
from tagtrail.api.errors import error_response
from tagtrail.error_codes import ERROR_CODES, ErrorCode
from tagtrail.errors import RegistryError

# Errors of one use that live with it (imported above so that they are subclasses here).
_ELSEWHERE = (tagtrail.accounts, tagtrail.api.http, tagtrail.api.token, tagtrail.auth.scopes)


def _every_error() -> list[type[RegistryError]]:
    found: list[type[RegistryError]] = []
    pending: list[type[RegistryError]] = [RegistryError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_each_entry_is_registered_once_under_one_name() -> None:
    named = {
        name: value for name, value in vars(error_codes).items() if isinstance(value, ErrorCode)
    }
    assert sorted(named.values(), key=id) == sorted(ERROR_CODES, key=id)
    assert len({(e.code, e.status) for e in ERROR_CODES}) == len(ERROR_CODES)
    for entry in ERROR_CODES:
        assert re.fullmatch(r"[A-Z_]+", entry.code), entry
        assert 400 <= entry.status < 600 and entry.message and entry.description, entry


def test_every_error_names_a_registered_entry() -> None:
    kinds = _every_error()
    assert {m.__name__ for m in _ELSEWHERE} <= {k.__module__ for k in kinds}
    for kind in kinds:
        assert kind.error_code in ERROR_CODES, kind
        raised = kind()
        assert (raised.code, raised.status) == (kind.error_code.code, kind.error_code.status)
        assert raised.message == (kind.default_message or kind.error_code.message)


def _drawn_tree() -> list[tuple[int, str, str]]:
    """(depth, class name, entry name) of each line of the drawing in errors.py."""
    assert errors.__doc__ is not None
    drawing = errors.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in drawing.splitlines():
        match = re.fullmatch(r"(\s*)((?:[│ ]   )*)(?:[├└]── )?(\w+)\s+([A-Z_]+)\b.*", line)
        if match is None:
            continue
        prefix = match.group(2)
        depth = len(prefix) // 4 + (1 if "──" in line else 0)
        rows.append((depth, match.group(3), match.group(4)))
    return rows


def test_the_docstring_draws_the_exception_tree_as_it_is() -> None:
    rows = _drawn_tree()
    defined = {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, RegistryError)
    }
    assert {name for _, name, _ in rows} == set(defined)
    parents: list[str] = []
    for depth, name, entry in rows:
        del parents[depth:]
        kind = defined[name]
        if parents:
            assert kind.__bases__ == (defined[parents[-1]],), name
        assert kind.error_code is getattr(error_codes, entry), (name, entry)
        parents.append(name)


async def _answer(exc: Exception) -> tuple[int, dict[str, object]]:
    app = Starlette()
    app.state.settings = None
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
        "path": "/v2/x",
        "query_string": b"",
        "headers": [],
        "app": app,
    }
    response = await error_response(Request(scope), exc)
    body = json.loads(bytes(response.body))
    error: dict[str, object] = body["errors"][0]
    return response.status_code, error


@pytest.mark.parametrize(
    "exc",
    [errors.TooLarge(), errors.RangeNotSatisfiable(), errors.TagUnknown(), errors.NotFound("x")],
    ids=type,
)
def test_the_answer_is_the_entry_s_status_and_code(exc: RegistryError) -> None:
    status, error = asyncio.run(_answer(exc))
    assert status == exc.error_code.status
    assert error == {"code": exc.error_code.code, "message": exc.message, "detail": None}


def test_the_http_layer_s_refusals_are_entries_too() -> None:
    assert asyncio.run(_answer(HTTPException(405)))[1]["code"] == error_codes.UNSUPPORTED.code
    status, error = asyncio.run(_answer(HTTPException(404)))
    assert (status, error["code"]) == (404, error_codes.NOT_FOUND.code)
    status, error = asyncio.run(_answer(HTTPException(400, "bad form")))
    assert (status, error["code"], error["message"]) == (400, "UNKNOWN", "bad form")
