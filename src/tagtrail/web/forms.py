"""Reading a url-encoded form within limits: the token endpoint's (OAuth2) and the UI's forms.

Starlette parses the form (python-multipart underneath) with a cap on the number of fields and
the size of each; the body as a whole is capped here, by its declared length and by the bytes
that actually arrive. One rule for repeated fields on every form: a field may appear once,
unless the endpoint names it a list. RFC 6749 (3.1) says the same of OAuth2 parameters, and a
second ``username`` or ``csrf`` has no meaning but the one an attacker hopes a parser picks;
the token endpoint's ``scope`` is a list because containers/image (podman, skopeo) sends one
``scope`` field per scope.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message, Receive

from tagtrail.errors import InvalidInput, TooLarge

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 32


class FormTooLarge(TooLarge):
    default_message = "form too large"


class FormInvalid(InvalidInput):
    default_message = "invalid form"


@dataclass(frozen=True, slots=True)
class Form:
    """A form's fields: each single field's value, and each list field's values in order."""

    single: dict[str, str]
    lists: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        return self.single.get(name, default)

    def getlist(self, name: str) -> list[str]:
        return self.lists.get(name, [])


async def read_form(
    request: Request,
    *,
    lists: Collection[str] = (),
    max_bytes: int = MAX_FORM_BYTES,
    max_fields: int = MAX_FIELDS,
) -> Form:
    """The request's url-encoded form. FormTooLarge (413) for a body over ``max_bytes``;
    FormInvalid (400) for another content type, more than ``max_fields`` fields, or a field
    given twice that is not one of ``lists``."""
    content_type = request.headers.get("content-type", "")
    # Only url-encoded: no form here takes a file, and HTML forms and OAuth2 clients send this.
    if content_type.partition(";")[0].strip().lower() != FORM_TYPE:
        raise FormInvalid(f"the body must be {FORM_TYPE}", detail={"type": content_type[:100]})
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise FormTooLarge(detail={"limit": max_bytes})
    capped = Request(request.scope, _capped(request.receive, max_bytes))
    try:
        parsed = await capped.form(max_files=0, max_fields=max_fields, max_part_size=max_bytes)
    except MultiPartException as exc:
        raise FormInvalid(exc.message) from exc
    except HTTPException as exc:  # Starlette's wrapping of the same, when an app is in scope
        raise FormInvalid(str(exc.detail)) from exc
    single: dict[str, str] = {}
    listed: dict[str, list[str]] = {}
    for name, value in parsed.multi_items():
        if isinstance(value, UploadFile):  # never from a url-encoded body; a guard for types
            raise FormInvalid("a form field is a file", detail={"field": name[:100]})
        if name in lists:
            listed.setdefault(name, []).append(value)
        elif name in single:
            raise FormInvalid("a form field is given more than once", detail={"field": name[:100]})
        else:
            single[name] = value
    return Form(single, listed)


def _capped(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body once more than ``limit`` bytes of it have arrived (a
    chunked body declares no length)."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise FormTooLarge(detail={"limit": limit})
        return message

    return capped
