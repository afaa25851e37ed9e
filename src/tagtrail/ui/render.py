"""Rendering the pages: the templates, the security headers, the session cookie, and ``page``,
the wrapper every page handler goes through (the viewer resolved, refusals rendered)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from tagtrail.errors import InvalidInput
from tagtrail.ui import present, session
from tagtrail.ui.access import Missing, Viewer, viewer
from tagtrail.web.forms import FormInvalid, FormTooLarge

HERE = Path(__file__).parent

TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["size"] = present.human_size
TEMPLATES.filters["duration"] = present.human_duration
TEMPLATES.filters["timestamp"] = present.timestamp
TEMPLATES.filters["kind"] = present.kind

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class Forbidden(Exception):
    """A form without a valid CSRF token, or from another origin."""


def repo_url(name: str) -> str:
    return f"/repo/{quote(name)}"


def tag_url(name: str, tag: str) -> str:
    return f"/repo/{quote(name)}/-/tag/{quote(tag)}"


def digest_url(name: str, digest: object) -> str:
    return f"/repo/{quote(name)}/-/digest/{quote(str(digest))}"


TEMPLATES.globals.update(repo_url=repo_url, tag_url=tag_url, digest_url=digest_url)


def respond(request: Request, response: Response) -> Response:
    """``response`` with the security headers, and the cookie of a session begun here."""
    response.headers.update(SECURITY_HEADERS)
    current = session.current(request)
    if current.fresh:
        session.store(request, response, current)
    return response


def render(
    request: Request, who: Viewer, template: str, status: int = 200, **context: Any
) -> Response:
    page = TEMPLATES.get_template(template).render(
        viewer=who,
        csrf=session.current(request).csrf,
        path=request.url.path,
        **context,
    )
    return respond(request, HTMLResponse(page, status_code=status))


Handler = Callable[[Request, Viewer], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page handler: resolves the viewer; a missing or hidden thing renders the 404 page, a
    refused form its reason with the API's status for it (400, 403 or 413)."""

    async def endpoint(request: Request) -> Response:
        who = await viewer(request)
        try:
            return await handler(request, who)
        except (FormInvalid, FormTooLarge) as exc:
            return render(request, who, "refused.html", status=exc.status, reason=exc.message)
        except (Missing, InvalidInput):
            return render(request, who, "missing.html", status=404)
        except Forbidden:
            return render(request, who, "forbidden.html", status=403)

    return endpoint
