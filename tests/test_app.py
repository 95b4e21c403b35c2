"""Health, metrics, request ids, logs without secrets, and the schema matching the models."""

from __future__ import annotations

import io
import json
import logging

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from bot import logs
from bot.app import Runtime, create_app
from bot.wecom.sandbox import CallbackSender
from tests.conftest import APP, SECRET


async def test_healthz_and_request_id(runtime: Runtime) -> None:
    app = create_app(runtime, run_workers=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as c:
        resp = await c.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert resp.status_code == 200 and resp.json()["status"] == "ok"
    assert resp.headers["X-Request-ID"] == "req-123"


async def test_metrics_count_callbacks_outbox_depth_and_sends(
    runtime: Runtime, wecom: CallbackSender
) -> None:
    await wecom.send_text("wangfang", "帮助")
    await wecom.http.post(
        wecom.url, params={"msg_signature": "x", "timestamp": "1", "nonce": "n"}, content=b"<xml/>"
    )
    await runtime.client.send_message("wangfang", "text", {"content": "预热"})
    from tests.outbox.test_dispatcher import queue

    queue(runtime, "wangfang", 2)
    queue(runtime, "nobody", 1)
    await runtime.dispatcher.drain()
    text = (await wecom.http.get("/metrics")).text
    assert 'advisor_bot_callbacks_total{outcome="accepted"} 1.0' in text
    assert 'advisor_bot_callbacks_total{outcome="stale_timestamp"} 1.0' in text
    assert 'advisor_bot_outbox_depth{status="sent"} 2.0' in text
    assert 'advisor_bot_outbox_depth{status="dead"} 1.0' in text
    assert 'advisor_bot_wecom_sends_total{errcode="0"} 2.0' in text
    assert 'advisor_bot_wecom_sends_total{errcode="81013"} 1.0' in text
    assert "advisor_bot_callback_ack_seconds_bucket" in text


def test_logs_are_json_with_the_request_id_and_never_carry_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter([SECRET, APP["encoding_aes_key"]]))
    logger = logging.getLogger("test.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    token = logs.request_id.set("abc123")
    try:
        logger.warning("calling with %s", SECRET, extra={"key": APP["encoding_aes_key"]})
    finally:
        logs.request_id.reset(token)
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "abc123"
    assert SECRET not in stream.getvalue() and APP["encoding_aes_key"] not in stream.getvalue()
    assert entry["msg"] == "calling with ***"


def test_migrations_produce_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
