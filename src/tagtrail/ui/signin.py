"""Signing in and out: the sign-in page, and the two forms, each checked for its origin and the
session's CSRF token. Signing in starts a new session, so a planted cookie is never promoted."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tagtrail.errors import Unauthorized
from tagtrail.ui import session
from tagtrail.ui.access import Viewer
from tagtrail.ui.render import SECURITY_HEADERS, Forbidden, page, render, respond
from tagtrail.web import login_name, state
from tagtrail.web.forms import Form, read_form

MAX_FORM_BYTES = 16 * 1024  # a user name, a password and a path, with room to spare


def safe_next(raw: str) -> str:
    """Only a path on this site: never another origin (open redirect)."""
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not raw.startswith("/") or raw.startswith("//"):
        return "/"
    if "\\" in raw:
        return "/"
    return raw


async def checked_form(request: Request) -> Form:
    """A url-encoded form from a same-origin page that carries the session's CSRF token
    (every form of the UI goes through this)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden
    fields = await read_form(request, max_bytes=MAX_FORM_BYTES)
    raw_cookie = request.cookies.get(session.COOKIE)
    current = session.current(request)
    if not raw_cookie or current.fresh or not current.csrf_matches(fields.get("csrf")):
        raise Forbidden
    return fields


@page
async def login_form(request: Request, who: Viewer) -> Response:
    next_path = safe_next(request.query_params.get("next", "/"))
    return render(request, who, "login.html", next_path=next_path, error=None, username="")


@page
async def login(request: Request, who: Viewer) -> Response:
    fields = await checked_form(request)
    next_path = safe_next(fields.get("next", "/"))
    guard = state.guard(request)
    if not guard.enabled:
        return respond(request, RedirectResponse(next_path, status_code=303))
    assert guard.policy is not None
    username, password = fields.get("username"), fields.get("password")
    login_name.note(request, username)  # the access log names it if the login is refused
    try:
        principal = await guard.policy.authenticate(username, password)
    except Unauthorized:
        return render(
            request,
            who,
            "login.html",
            status=401,
            next_path=next_path,
            error="Unknown user or pull token, or wrong password.",
            username=username,
        )
    # A new session (and CSRF token) on sign-in: a planted cookie is never promoted.
    response = RedirectResponse(next_path, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    session.store(request, response, session.Session.new(principal.subject))
    return response


@page
async def logout(request: Request, who: Viewer) -> Response:
    await checked_form(request)
    response = RedirectResponse("/", status_code=303)
    response.headers.update(SECURITY_HEADERS)
    session.store(request, response, session.Session.new())
    return response


ROUTES: list[BaseRoute] = [
    Route("/login", login_form, methods=["GET", "HEAD"], name="ui-login-form"),
    Route("/login", login, methods=["POST"], name="ui-login"),
    Route("/logout", logout, methods=["POST"], name="ui-logout"),
]
