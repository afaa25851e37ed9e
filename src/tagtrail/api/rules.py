"""Immutable-tag rules over HTTP, for an organisation's admins (the server's admins too).

``GET /v2/_tagtrail/rules?org=<org>[&removed=true]`` lists an organisation's rules in force
(or the removed ones, with who removed each and when); ``DELETE /v2/_tagtrail/rules/<id>``
removes one, recorded with the caller as who removed it and logged
(``registry.tag_rules``). ``tagtrail admin rule`` does the same on the database directly.

Credentials are those of any other request (Basic, a pull token's secret, a token from
``/token``); only a user counts, pull tokens never administer. Without credentials: 401 with a
Basic challenge, as these are no repository scopes a token could carry.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tagtrail.errors import Denied, InvalidInput, NameInvalid, NotFound, Unauthorized
from tagtrail.registry.tag_rules import TagRule
from tagtrail.times import format_timestamp
from tagtrail.types import parse_name
from tagtrail.web import state
from tagtrail.web.actors import actor_of
from tagtrail.web.guard import Caller


async def _require_admin(request: Request, organisation: str) -> Caller:
    """The caller, when it administers ``organisation``; else Unauthorized or Denied."""
    guard = state.guard(request)
    caller = await guard.caller(request)
    if caller.unrestricted:
        return caller
    who = await guard.identity(caller)
    if who is None or who.kind == "anonymous":
        raise Unauthorized("credentials needed to administer tag rules", basic=True)
    assert guard.policy is not None
    if not await guard.policy.administers(who, organisation):
        kind = "user" if who.kind == "user" else "pull token"
        what = f"the tag rules of {organisation}" if organisation else "this tag rule"
        raise Denied(
            f"administering {what} denied for {kind} {who.name}",
            detail={"organisation": organisation},
        )
    return caller


def _json(rule: TagRule) -> dict[str, object]:
    removed = rule.removed_ms
    return {
        "id": rule.id,
        "organisation": rule.organisation,
        "repository": rule.repository,
        "immutable": rule.tag_pattern,
        "except": list(rule.exceptions),
        "created": format_timestamp(rule.created_ms),
        "createdBy": rule.created_by,
        "removed": None if removed is None else format_timestamp(removed),
        "removedBy": rule.removed_by,
    }


async def list_rules(request: Request) -> Response:
    raw = request.query_params.get("org", "")
    try:
        organisation = parse_name(raw)
    except NameInvalid:
        raise InvalidInput("?org=<organisation> is required", detail={"org": raw[:255]}) from None
    await _require_admin(request, organisation)
    removed = request.query_params.get("removed", "false").lower() in ("1", "true")
    rules = await state.registry(request).rules.listed(organisation, removed=removed)
    return JSONResponse({"rules": [_json(rule) for rule in rules]})


async def remove_rule(request: Request) -> Response:
    raw = request.path_params["rule_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"no tag rule {raw[:40]!r}")
    rules = state.registry(request).rules
    found = await rules.get(int(raw))
    # Authenticate before saying whether the rule exists, then judge by its organisation.
    caller = await _require_admin(request, found.organisation if found else "")
    if found is None or found.removed_ms is not None:
        raise NotFound(f"no tag rule #{raw} in force", detail={"rule": int(raw)})
    removed = await rules.remove(found.id, by=actor_of(caller))
    return JSONResponse(_json(removed))
