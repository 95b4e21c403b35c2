"""The app factory and the runtime that wires domains, workers and the database together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import logs
from bot.assistant.handlers import AssistantHandlers
from bot.clock import Clock, SystemClock
from bot.compliance import console as compliance_console
from bot.compliance import router as compliance_router
from bot.compliance.check import Checker
from bot.config import Settings
from bot.db import read_only, session_scope
from bot.hq import router as hq_router
from bot.knowledge.base import load_knowledge_or_fail
from bot.metrics import Metrics
from bot.outbox import service as outbox_service
from bot.outbox.budget import SendBudget
from bot.outbox.dispatcher import Dispatcher
from bot.scripts.ranking import ScriptCatalog
from bot.sidebar import router as sidebar_router
from bot.wecom import gateway
from bot.wecom import inbox as inbox_service
from bot.wecom.client import DbTokenStore, RetryPolicy, WeComClient
from bot.wecom.crypto import CallbackCrypto
from bot.wecom.inbox import InboxProcessor

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running bot holds; one per process (tests build several)."""

    settings: Settings
    engine: Engine
    clock: Clock
    metrics: Metrics
    crypto: CallbackCrypto
    client: WeComClient
    handlers: AssistantHandlers
    inbox: InboxProcessor
    dispatcher: Dispatcher
    checker: Checker
    catalog: ScriptCatalog
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def notify_workers(self) -> None:
        self.inbox.notify()
        self.dispatcher.notify()

    async def start_workers(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self.inbox.run_forever(), name="inbox"),
            asyncio.create_task(self.dispatcher.run_forever(), name="dispatcher"),
        ]
        log.info("workers started")

    async def stop_workers(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_until_idle(self, *, rounds: int = 20) -> None:
        """Process the inbox and send what is due until both are quiet (tests, `worker --once`)."""
        for _ in range(rounds):
            handled = await self.inbox.run_once()
            report = await self.dispatcher.drain()
            if not handled and not (report.sent or report.retried or report.dead):
                return

    def depths(self) -> dict[str, dict[str, int]]:
        with session_scope(read_only(self.engine)) as session:
            return {
                "outbox": outbox_service.depth_by_status(session),
                "inbox": {"pending": inbox_service.pending_count(session)},
            }

    async def aclose(self) -> None:
        await self.stop_workers()
        await self.client.aclose()


def build_runtime(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock | None = None,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    budget: SendBudget | None = None,
) -> Runtime:
    """Wire a runtime for `settings`; the WeCom variables must be set (ConfigError otherwise)."""
    settings.require_wecom()
    assert settings.wecom_corp_id and settings.wecom_agent_id is not None
    assert settings.wecom_secret and settings.wecom_token and settings.wecom_encoding_aes_key
    clock = clock or SystemClock()
    metrics = Metrics()
    crypto = CallbackCrypto(
        token=settings.wecom_token.get_secret_value(),
        encoding_aes_key=settings.wecom_encoding_aes_key.get_secret_value(),
        corp_id=settings.wecom_corp_id,
    )
    client = WeComClient(
        base_url=settings.wecom_api_base,
        corp_id=settings.wecom_corp_id,
        secret=settings.wecom_secret.get_secret_value(),
        agent_id=settings.wecom_agent_id,
        token_store=DbTokenStore(engine, settings.app_key),
        clock=clock,
        http=http,
        retry=retry,
    )
    knowledge = load_knowledge_or_fail(settings)
    checker = Checker(knowledge)
    catalog = ScriptCatalog(engine, knowledge)
    handlers = AssistantHandlers(
        client=client, clock=clock, tz=settings.timezone, checker=checker, catalog=catalog
    )
    dispatcher = Dispatcher(
        engine=engine, client=client, clock=clock, metrics=metrics, budget=budget
    )
    inbox = InboxProcessor(
        engine=engine, handlers=handlers, clock=clock, on_effects=dispatcher.notify
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        clock=clock,
        metrics=metrics,
        crypto=crypto,
        client=client,
        handlers=handlers,
        inbox=inbox,
        dispatcher=dispatcher,
        checker=checker,
        catalog=catalog,
    )
    metrics.watch_depths(runtime.depths)
    return runtime


class RequestIdMiddleware:
    """Tags each request (and its log lines) with X-Request-ID, taken or made; pure ASGI."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = (given or uuid.uuid4().hex)[:64]
        token = logs.request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)


def create_app(runtime: Runtime, *, run_workers: bool = True) -> FastAPI:
    """The ASGI app; with `run_workers` its lifespan runs the inbox processor and dispatcher."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if run_workers:
            await runtime.start_workers()
        try:
            yield
        finally:
            await runtime.stop_workers()

    app = FastAPI(
        title="WeCom advisor bot",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.include_router(gateway.router)
    app.include_router(hq_router.router)
    app.include_router(sidebar_router.router)
    app.include_router(compliance_router.router)
    app.include_router(compliance_console.router)
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "请求体"
        log.warning("request refused", extra={"path": request.url.path, "detail": str(first)})
        return JSONResponse(
            {"error": "invalid_request", "message": f"请求格式不正确（{where}）：应为 JSON"},
            status_code=400,
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code >= 400:
            log.warning(
                "request refused", extra={"path": request.url.path, "status": exc.status_code}
            )
        return JSONResponse(
            {"error": "http_" + str(exc.status_code), "message": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(
            {"error": "internal", "message": "服务器内部错误，已记录"}, status_code=500
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with read_only(runtime.engine).connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        body = {"status": "ok", "database": "ok"}
        if runtime.dispatcher.pause_reason:
            body["sending"] = "paused: " + runtime.dispatcher.pause_reason
        return JSONResponse(body)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    return app
