"""The token endpoint: ``GET /token`` (Docker token spec) and ``POST /token`` (OAuth2 form)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail import error_codes, metrics
from tagtrail.auth.model import ANONYMOUS, Grant, Principal
from tagtrail.auth.policy import AccessPolicy
from tagtrail.auth.scopes import Scope, parse_scopes
from tagtrail.auth.tokens import TokenAuthority
from tagtrail.errors import InvalidInput, Unauthorized, Unsupported
from tagtrail.web import login_name, state
from tagtrail.web.forms import FormInvalid, read_form
from tagtrail.web.guard import basic_credentials


class TokenRequestInvalid(InvalidInput):
    error_code = error_codes.TOKEN_REQUEST_INVALID


def _parts(request: Request) -> tuple[AccessPolicy, TokenAuthority]:
    guard = state.guard(request)
    if guard.policy is None or guard.authority is None:
        raise Unsupported("this registry runs without authentication")
    return guard.policy, guard.authority


def _check_service(authority: TokenAuthority, service: str | None) -> None:
    if service and service != authority.service:
        raise TokenRequestInvalid("unknown service", detail={"service": service[:200]})


async def _grants(
    policy: AccessPolicy, principal: Principal, scopes: list[Scope]
) -> list[tuple[Scope, Grant]]:
    granted = []
    for scope in scopes:
        grant = await policy.grant(principal, scope)
        if grant is not None:
            granted.append((Scope(scope.type, scope.name, grant.actions), grant))
    return granted


async def get_token(request: Request) -> Response:
    policy, authority = _parts(request)
    params = request.query_params
    _check_service(authority, params.get("service"))
    scopes = parse_scopes(params.getlist("scope"))
    credentials = basic_credentials(request)
    if credentials is not None:
        login_name.note(request, credentials[0])  # for the access log: never the password
    principal = ANONYMOUS if credentials is None else await policy.authenticate(*credentials)
    issued = authority.issue(principal.subject, await _grants(policy, principal, scopes))
    metrics.TOKENS_ISSUED.labels("anonymous" if credentials is None else "basic").inc()
    body: dict[str, object] = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    if params.get("offline_token") == "true" and principal is not ANONYMOUS:
        body["refresh_token"] = authority.issue_refresh(principal.subject)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def post_token(request: Request) -> Response:
    policy, authority = _parts(request)
    try:
        # ``scope`` may repeat, as in GET: containers/image sends one field per scope.
        form = await read_form(request, lists={"scope"})
    except FormInvalid as exc:
        raise TokenRequestInvalid(exc.message, detail=exc.detail) from exc
    _check_service(authority, form.get("service"))
    scopes = parse_scopes(form.getlist("scope"))
    grant_type = form.get("grant_type")
    refresh: str | None = None
    if grant_type == "password":
        login_name.note(request, form.get("username", ""))  # for the access log
        principal = await policy.authenticate(form.get("username", ""), form.get("password", ""))
        if form.get("access_type") == "offline":
            refresh = authority.issue_refresh(principal.subject)
    elif grant_type == "refresh_token":
        refresh = form.get("refresh_token", "")
        found = await policy.principal(authority.verify_refresh(refresh))
        if found is None:
            # The account is gone, or the pull token it was issued to is revoked or expired.
            raise Unauthorized("refresh token no longer valid", basic=True)
        principal = found
    else:
        raise TokenRequestInvalid(
            "grant_type must be password or refresh_token", detail={"grant_type": grant_type}
        )
    granted = await _grants(policy, principal, scopes)
    issued = authority.issue(principal.subject, granted)
    metrics.TOKENS_ISSUED.labels(grant_type).inc()
    body: dict[str, object] = {
        "access_token": issued.token,
        "scope": " ".join(str(scope) for scope, _ in granted),
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    if refresh is not None:
        body["refresh_token"] = refresh
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
