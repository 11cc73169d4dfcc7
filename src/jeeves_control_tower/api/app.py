"""The FastAPI application: `create_app(service, settings)` wires routes, auth, errors and pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from jeeves_protocols import InterruptError

from ..services.interrupt_service import InterruptService
from ..tokens import TokenRegistry
from . import approvals as approval_routes
from . import events, routes
from . import tokens as token_routes
from . import webhooks as webhook_routes
from .auth import RateLimiter, declare_bearer_auth
from .errors import RETRY_AFTER_SECONDS, install_error_handlers, problem
from .request_log import RequestLog
from .server import BoundedRequests

__all__ = ["Settings", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"

_PLACEHOLDER_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8"><title>jeeves</title>
<body><h1>jeeves control tower</h1><p>The inbox page is not installed; the API is at
<a href="/docs">/docs</a>.</p></body></html>"""


@dataclass(frozen=True)
class Settings:
    #: Requests per second allowed per token (None: unlimited), with bursts up to `rate_burst`.
    rate_limit: Optional[float] = None
    rate_burst: int = 50
    #: How often an event stream re-reads the journal when nothing in this process woke it.
    sse_poll_seconds: float = 0.5
    keepalive_seconds: float = 15.0
    #: How often an open event stream re-checks its token against the token store; a revoked
    #: token (or one whose user or role changed) ends its streams within this plus one poll.
    sse_reauth_seconds: float = 2.0
    #: Start and stop the service with the app (False when the caller manages its lifecycle).
    manage_service: bool = True
    #: Run the webhook dispatcher in this process (when webhooks are given and managed here).
    dispatcher: bool = True
    #: Log every request (refused ones, 4xx, are logged either way), through the service's logger.
    access_log: bool = False


def create_app(
    service: InterruptService,
    settings: Optional[Settings] = None,
    *,
    tokens: Optional[TokenRegistry] = None,
    webhooks: Any = None,
) -> FastAPI:
    """`webhooks` is a `webhooks.WebhookService` (default: the service's own webhook_service,
    if it is one); without it the /v1/webhooks endpoints answer 404."""
    settings = settings or Settings()
    if webhooks is None and hasattr(service.webhook_service, "list_subscriptions"):
        webhooks = service.webhook_service

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.manage_service:
            await service.start()
            if webhooks is not None:
                await (webhooks.start() if settings.dispatcher else webhooks.open())
        try:
            yield
        finally:
            if settings.manage_service:
                if webhooks is not None:
                    await webhooks.stop()
                await service.stop()

    app = FastAPI(
        title="jeeves control tower",
        version="1",
        description="Durable human-in-the-loop interrupts for AI agents.",
        lifespan=lifespan,
        docs_url=None,  # served by _add_explorers, from the package: no CDN, so offline too
        redoc_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    app.state.webhooks = webhooks
    app.state.tokens = tokens if tokens is not None else service.backend.tokens
    app.state.rate_limiter = (
        RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
    )
    hub = events.EventHub()
    app.state.events = hub
    # Terminal changes seen by the store (incl. other processes, via LISTEN) wake event streams.
    service.add_change_listener(hub.wake)

    install_error_handlers(app)
    app.add_middleware(BoundedRequests)  # refused before anything else runs
    app.add_middleware(RequestLog, access_log=settings.access_log)  # outermost: sees every reply
    app.include_router(routes.router)
    app.include_router(approval_routes.router)
    app.include_router(events.router)
    app.include_router(webhook_routes.router)
    app.include_router(token_routes.router)
    _add_operational_routes(app)
    _add_pages(app)
    _add_explorers(app)
    declare_bearer_auth(app)
    return app


def _add_operational_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "the database is unreachable"}})
    async def readyz(request: Request) -> Response:
        # 503 while the database is unreachable, 200 from the first probe that reaches it again
        # (the pool, writer and LISTEN connections reconnect by themselves; no restart).
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        try:
            # A real round trip to the database: reading a row that does not exist.
            await request.app.state.service.get_interrupt("readyz-probe")
        except InterruptError as exc:
            return problem(503, "not_ready", f"database unavailable: {exc.message}", headers=retry)
        except Exception as exc:
            return problem(503, "not_ready", f"database unavailable: {exc}", headers=retry)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

        # The service's own registry (interrupts, webhooks) plus the process collectors.
        body = request.app.state.service.metrics.render() + generate_latest(REGISTRY)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _add_explorers(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, their scripts and styles from api/static/vendor/."""
    vendor = "/static/vendor"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{vendor}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{vendor}/swagger-ui/swagger-ui.css",
            swagger_favicon_url="data:,",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - API",
            redoc_js_url=f"{vendor}/redoc/redoc.standalone.js",
            redoc_favicon_url="data:,",
            with_google_fonts=False,
        )
        # ReDoc's footer shows a logo from its CDN: images and fonts from this server only, so
        # the page asks nothing of the internet (it would only fail offline, quietly).
        page.headers["Content-Security-Policy"] = "img-src 'self' data:; font-src 'self' data:"
        return page


def _add_pages(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False, response_model=None)
    async def inbox() -> Any:
        index = STATIC_DIR / "index.html"
        if index.is_file():
            return FileResponse(index, media_type="text/html")
        return HTMLResponse(_PLACEHOLDER_PAGE)

    # The folder may not exist yet (another engineer builds the page); serve it once it does.
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
