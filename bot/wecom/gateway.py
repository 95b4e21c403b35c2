"""`GET|POST /wecom/callback`: URL verification and encrypted pushes.

Every refusal is a 4xx with a JSON body `{"error": code, "message": 中文原因}`, a log line and
nothing stored. An accepted push is in the inbox before the 200 goes out; an instant answer
goes back as an encrypted passive reply.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from wechatpy.replies import TextReply

from bot.wecom import inbox
from bot.wecom.crypto import CallbackCryptoError
from bot.wecom.inbound import Inbound, MalformedPush, parse_inbound, parse_xml

if TYPE_CHECKING:
    from bot.app import Runtime

log = logging.getLogger(__name__)
router = APIRouter()
# These routes are plain Starlette routes (no FastAPI validation layer): WeCom's pushes are
# validated by hand below, and the hot path is measured in bench/callback.py.

MAX_BODY = 64 * 1024
REQUIRED_QUERY = ("msg_signature", "timestamp", "nonce")


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _refuse(runtime: Runtime, exc: Refused) -> JSONResponse:
    runtime.metrics.callbacks.labels(outcome=exc.code).inc()
    log.warning("callback refused", extra={"reason": exc.code, "detail": exc.message})
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status)


def _query(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    values = {name: request.query_params.get(name, "") for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise Refused(400, "missing_field", f"缺少查询参数 {', '.join(missing)}")
    return values


def _check_timestamp(runtime: Runtime, timestamp: str) -> None:
    if not timestamp.isdigit():
        raise Refused(400, "bad_timestamp", "timestamp 不是整数")
    skew = abs(runtime.clock.now().timestamp() - int(timestamp))
    if skew > runtime.settings.bot_callback_max_skew_seconds:
        raise Refused(
            400, "stale_timestamp", f"timestamp 与服务器时间相差 {int(skew)} 秒，超出允许窗口"
        )


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise Refused(413, "body_too_large", f"请求体超过 {MAX_BODY // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refused(413, "body_too_large", f"请求体超过 {MAX_BODY // 1024} KiB")
    return bytes(body)


async def verify_url(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        q = _query(request, (*REQUIRED_QUERY, "echostr"))
        _check_timestamp(runtime, q["timestamp"])
        # Starlette has already URL-decoded echostr, as PROTOCOL.md requires.
        plain = runtime.crypto.verify_url(
            q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]
        )
    except CallbackCryptoError as exc:
        return _refuse(runtime, Refused(exc.status_code, exc.code, exc.reason))
    except Refused as exc:
        return _refuse(runtime, exc)
    runtime.metrics.callbacks.labels(outcome="verified").inc()
    return PlainTextResponse(plain)


def _passive_reply(runtime: Runtime, inbound: Inbound, content: str, nonce: str) -> str:
    reply = TextReply(
        source=runtime.settings.wecom_corp_id,
        target=inbound.from_user,
        content=content,
        time=int(runtime.clock.now().timestamp()),
    )
    return runtime.crypto.passive_reply_xml(
        reply.render(), nonce=nonce, timestamp=str(int(runtime.clock.now().timestamp()))
    )


async def receive(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    started = time.perf_counter()
    try:
        q = _query(request, REQUIRED_QUERY)
        _check_timestamp(runtime, q["timestamp"])
        envelope = parse_xml(await _read_body(request))
        encrypt = envelope.get("Encrypt")
        if not encrypt or not isinstance(encrypt, str):
            raise Refused(400, "missing_field", "缺少字段 Encrypt")
        plaintext = runtime.crypto.decrypt_push(
            q["msg_signature"], q["timestamp"], q["nonce"], encrypt
        )
        inbound = parse_inbound(plaintext, corp_id=runtime.settings.wecom_corp_id or "")
    except CallbackCryptoError as exc:
        return _refuse(runtime, Refused(exc.status_code, exc.code, exc.reason))
    except MalformedPush as exc:
        status = 403 if exc.code == "wrong_corp_id" else exc.status_code
        return _refuse(runtime, Refused(status, exc.code, exc.reason))
    except Refused as exc:
        return _refuse(runtime, exc)

    def store() -> inbox.Accepted:
        with runtime.engine.begin() as conn:
            return inbox.accept(
                conn, inbound=inbound, handlers=runtime.handlers, clock=runtime.clock
            )

    # SQLite writes are serialised anyway and take a fraction of a millisecond: a thread hop
    # would cost more than it saves. A network database stays off the event loop.
    accepted = (
        store() if runtime.engine.dialect.name == "sqlite" else await run_in_threadpool(store)
    )
    outcome = "duplicate" if accepted.duplicate else "accepted"
    runtime.metrics.callbacks.labels(outcome=outcome).inc()
    log.info(
        "callback %s",
        outcome,
        extra={"inbox_id": accepted.inbox_id, "msg_type": inbound.msg_type, "event": inbound.event},
    )
    if not accepted.duplicate:
        runtime.notify_workers()
    if accepted.passive_reply is not None:
        body = _passive_reply(runtime, inbound, accepted.passive_reply, secrets.token_hex(8))
        response: Response = Response(body, media_type="application/xml")
    else:
        response = Response(b"", media_type="text/plain")
    runtime.metrics.ack_seconds.observe(time.perf_counter() - started)
    return response


router.add_route("/wecom/callback", verify_url, methods=["GET"], include_in_schema=False)
router.add_route("/wecom/callback", receive, methods=["POST"], include_in_schema=False)
