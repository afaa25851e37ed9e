"""The OpenAPI 3.1 document of tagtrail's own endpoints: the token service and both tag
history APIs (the OCI distribution API itself is specified elsewhere: of it, only the
operations where tagtrail takes an option the spec leaves open are here). Served at
``GET /openapi.json`` without authentication; a test checks live responses against it.

The document is ``openapi.yaml`` beside this module (package data). It is read when this
module is imported, which the app's module does and the CLI never does before ``serve``, so
no request and no other command pays for it; what is kept elsewhere is filled in here: the
package's version, and the error codes of the table the error mapping answers with.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response

from tagtrail import __version__
from tagtrail.error_codes import ERROR_CODES


def _error_code_schema() -> dict[str, Any]:
    """ErrorResponse's ``code``: the codes of ``error_codes``, and what each means."""
    rows = [f"| `{e.code}` | {e.status} | {e.description} |" for e in ERROR_CODES]
    return {
        "type": "string",
        "enum": list(dict.fromkeys(e.code for e in ERROR_CODES)),
        "description": "\n".join(["| code | status | meaning |", "| --- | --- | --- |", *rows]),
    }


def load() -> dict[str, Any]:
    """The document: the YAML file, completed."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    # libyaml's loader when PyYAML has it: a tenth of the pure-Python one's time.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    document: dict[str, Any] = yaml.load(text, Loader=loader)  # noqa: S506 (a safe loader)
    document["info"]["version"] = __version__
    error = document["components"]["schemas"]["ErrorResponse"]
    error["properties"]["errors"]["items"]["properties"]["code"] = _error_code_schema()
    return document


DOCUMENT: dict[str, Any] = load()
_BODY = json.dumps(DOCUMENT, separators=(",", ":")).encode()


async def document(request: Request) -> Response:
    return Response(_BODY, media_type="application/json")
