"""The ASGI application: routes, lifespan (opening the registry) and the error mapping."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tagtrail import logs
from tagtrail.api import blobs, history, manifests, openapi, restore, rules, token
from tagtrail.api.connections import closing_unread
from tagtrail.api.errors import HANDLERS, error_response
from tagtrail.api.http import RawResponse
from tagtrail.api.metrics import Observed
from tagtrail.api.pull_answers import PULL_METHODS, Answer, PullAnswers
from tagtrail.api.routing import RegistryRoutes, Tail
from tagtrail.auth.keys import KeyRing
from tagtrail.auth.policy import AccessPolicy
from tagtrail.auth.tokens import TokenAuthority
from tagtrail.config import Settings, load_settings
from tagtrail.meta.credentials import CredentialBox
from tagtrail.meta.database import Database
from tagtrail.meta.sql import SqlMetadataStore
from tagtrail.meta.sql_accounts import SqlAccountStore
from tagtrail.meta.sql_mirrors import SqlMirrorStore
from tagtrail.registry.mirror_loop import MirrorLoop
from tagtrail.registry.service import Registry
from tagtrail.registry.webhook_delivery import WebhookLoop
from tagtrail.ui import routes as ui
from tagtrail.ui import session as ui_session
from tagtrail.web import state
from tagtrail.web.guard import Guard


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Readiness: the database and the blob storage answer."""
    status = await state.registry(request).check()
    failed = {part: kind for part, kind in status.items() if kind is not None}
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed}, status_code=503)
    return JSONResponse({"status": "ready"})


async def base(request: Request) -> Response:
    await state.guard(request).require_login(request)
    return JSONResponse({})


_API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")


class RegistryApp:
    """The ASGI app. ``/v2/<name>/...`` requests (every pull and push) go straight to their
    handler, with errors mapped by api/errors.py; everything else goes through Starlette.

    Starlette's middleware and router cost more than a manifest GET's own work when profiled
    (31 us a request in-process, against 17 us for ``GET /v2/`` that does nothing), so the
    registry's paths, found by api/routing.py, skip them. Every answer names the API version,
    as Distribution's do."""

    def __init__(
        self,
        app: Starlette,
        routes: RegistryRoutes,
        metrics_allow: list[str] | None = None,
        answers: PullAnswers | None = None,
    ) -> None:
        self.app = app
        self._routes = routes
        self._answers = answers  # repeated pulls' answers (api/pull_answers.py), if kept
        # Every request counted, timed and logged (api/metrics.py), unless built without.
        self._entry: ASGIApp = self._dispatch
        self._observed = None
        if metrics_allow is not None:
            self._entry = self._observed = Observed(self._dispatch, metrics_allow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if scope["method"] not in PULL_METHODS:
                receive, send = closing_unread(scope, receive, send)
            elif self._answers is not None:
                # Ahead of everything else, metrics' wrappers included: a kept answer costs
                # a fraction of a handler's (api/pull_answers.py).
                started = time.perf_counter()
                state = self.app.state
                answer = self._answers.look_up(scope, state.registry, state.guard)
                if answer is not None:
                    await self._give(scope, send, answer, started)
                    return
        await self._entry(scope, receive, send)

    async def _give(self, scope: Scope, send: Send, answer: Answer, started: float) -> None:
        if answer.caller is not None:  # whom the access log names
            scope.setdefault("state", {})["caller"] = answer.caller
        if self._observed is not None:
            await self._observed.give(
                scope, send, answer.headers, answer.body, answer.route, started
            )
            return
        await send({"type": "http.response.start", "status": 200, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self._routes.find(scope)
        if found is None:
            await self.app(scope, receive, _with_api_version(send))
            return
        scope["app"] = self.app  # where handlers find the registry: request.app.state
        scope["path_params"] = found.params
        request = Request(scope, receive, send)
        try:
            if found.handler is None:
                raise HTTPException(status_code=405, headers={"Allow": found.allow})
            response = await found.handler(request)
        except Exception as exc:
            response = await error_response(request, exc)
        response.raw_headers.append(_API_VERSION)
        if self._answers is not None and isinstance(response, RawResponse):
            self._answers.keep(scope, response, self.app.state.guard)
        await response(scope, receive, send)


def _with_api_version(send: Send) -> Send:
    async def send_with_header(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), _API_VERSION]
        await send(message)

    return send_with_header


# Every /v2/<name>/... path, by its trailing segments (api/routing.py).
REGISTRY = RegistryRoutes(
    [
        Tail.of("blobs/uploads/", {"POST": blobs.start_upload}),
        Tail.of(
            "blobs/uploads/{upload_id}",
            {
                "GET": blobs.upload_status,
                "PATCH": blobs.patch_upload,
                "PUT": blobs.put_upload,
                "DELETE": blobs.cancel_upload,
            },
        ),
        Tail.of("blobs/{digest}", {"GET": blobs.get_blob, "DELETE": blobs.delete_blob}),
        Tail.of(
            "manifests/{reference}",
            {
                "GET": manifests.get_manifest,
                "PUT": manifests.put_manifest,
                "DELETE": manifests.delete_manifest,
            },
        ),
        Tail.of("tags/list", {"GET": manifests.list_tags}),
        Tail.of("referrers/{digest}", {"GET": manifests.referrers}),
        Tail.of("_chainguard/history/{tag}", {"GET": history.chainguard_history}),
        Tail.of("_oci/tag-history/{tag}", {"GET": history.oci_tag_history}),
        Tail.of("_tagtrail/tags/{tag}/restore", {"POST": restore.restore_tag}),
    ]
)
ROUTES = [
    Route("/v2/", base, methods=["GET", "HEAD"]),
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/token", token.get_token, methods=["GET"]),
    Route("/token", token.post_token, methods=["POST"]),
    Route("/openapi.json", openapi.document, methods=["GET"]),
    Route("/v2/_catalog", manifests.catalog, methods=["GET"]),
    Route("/v2/_tagtrail/rules", rules.list_rules, methods=["GET"]),
    Route("/v2/_tagtrail/rules/{rule_id}", rules.remove_rule, methods=["DELETE"]),
    # The web UI (tagtrail.ui): pages at "/", after every API route. Listed here rather than
    # mounted at "": a mount matches every path and would turn the API's 405s into 404s.
    *ui.ROUTES,
]


def token_authority(settings: Settings, clock: Callable[[], float] = time.time) -> TokenAuthority:
    keys = KeyRing.load(settings.keys_dir, settings.token_key, tuple(settings.token_verify_keys))
    return TokenAuthority(
        keys,
        issuer=settings.token_issuer,
        service=settings.service_name,
        ttl=settings.token_ttl_seconds,
        refresh_ttl=settings.refresh_ttl_seconds,
        clock=clock,
    )


def event_source(settings: Settings) -> str:
    """The registry's URL as its events name it (CloudEvents ``source``, Distribution's
    manifest URLs): the external URL, else the address it listens on."""
    if settings.external_url:
        return settings.external_url
    return f"{'https' if settings.tls_cert else 'http'}://{settings.listen}"


def create_app(settings: Settings) -> RegistryApp:
    """The app; it opens the database, storage and keys at startup."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # The UI's session keys: read once here, never on a request (ui/session.py).
        app.state.ui_sessions = await ui_session.open_codec(settings.keys_dir)
        # `tagtrail serve` migrated before starting workers; a worker only checks.
        database = await Database.open(settings.metadata_url, migrate=False)
        await database.require_head()
        meta = SqlMetadataStore(database)
        # The workers pull through mirrors with their credentials (sealed in the database).
        box = CredentialBox.load(settings.keys_dir)  # mirror passwords, webhook secrets
        mirrors = SqlMirrorStore(database, box)
        # The accounts tell a local name from Docker Hub's in the Docker daemon's mirror form.
        registry = await Registry.open_on(meta, settings, mirrors, SqlAccountStore(database))
        app.state.registry = registry
        if settings.auth:
            policy = AccessPolicy(SqlAccountStore(database), meta, meta)
            app.state.guard = Guard(policy, token_authority(settings), enabled=True)
        else:
            app.state.guard = Guard(None, None, enabled=False)
        # Watch rounds and mirror status checks: one loop a worker, the leases in the database.
        loop = None
        if registry.mirroring is not None:
            sync = registry.mirroring.sync
            loop = MirrorLoop(
                mirrors,
                meta,
                sync,
                meta,
                requests_per_second=settings.mirror_requests_per_second,
            )
            loop.start()
        # The outbox's events to the webhooks: one loop a worker, a lease per delivery.
        webhook_loop = WebhookLoop(
            meta,
            box,
            event_source(settings),
            retry_ms=int(settings.webhook_retry_seconds * 1000),
            give_up_ms=int(settings.webhook_give_up_seconds * 1000),
            timeout_s=settings.webhook_timeout_seconds,
        )
        webhook_loop.start()
        try:
            yield
        finally:
            await webhook_loop.stop()  # before the database it writes to closes
            if loop is not None:
                await loop.stop()  # before the database it writes to closes
            await registry.close()
            await database.close()

    app = Starlette(routes=ROUTES, exception_handlers=HANDLERS, lifespan=lifespan)
    app.state.settings = settings
    answers = None
    if settings.pull_answer_bytes > 0:
        answers = PullAnswers(max_bytes=settings.pull_answer_bytes)
    return RegistryApp(app, REGISTRY, settings.metrics_allow, answers)


def app_from_environment() -> RegistryApp:
    """Factory for the server's workers: settings come from TAGTRAIL_* and the config file."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(settings)
