"""Callback throughput and acknowledgement latency through the ASGI app, against a floor.

Floor: bare wechatpy — verify, decrypt and parse the same encrypted pushes, nothing else.
Measured: the bot's ASGI app handling each push end to end (query checks, safe XML parsing,
strict decryption, validation, the inbox insert and commit on a SQLite file in WAL mode)
until it acknowledges. Prints pushes per second for both, their ratio, and p50/p99
acknowledgement latency. Run: `.venv/bin/python bench/callback.py [N]`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from wechatpy.work import parse_message
from wechatpy.work.crypto import WeChatCrypto

from bot.app import build_runtime, create_app
from bot.config import load_settings
from bot.db import create_db_engine, upgrade
from bot.wecom.sandbox import CallbackSender, Sandbox

TOKEN, AES_KEY, CORP = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"


async def call_asgi(app, query: str, body: bytes) -> int:  # type: ignore[no-untyped-def]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/wecom/callback",
        "raw_path": b"/wecom/callback",
        "query_string": query.encode(),
        "root_path": "",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"content-length", str(len(body)).encode())],
    }
    sent = False
    status = 0

    async def receive():  # type: ignore[no-untyped-def]
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):  # type: ignore[no-untyped-def]
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def make_pushes(sandbox: Sandbox, n: int) -> list[tuple[dict[str, str], str]]:
    sender = CallbackSender(sandbox, None, "")  # type: ignore[arg-type]
    pushes = []
    for i in range(n):
        plain = sender.contact_event_xml(
            "add_external_contact",
            f"adv{i % 50}",
            f"wm{i:08d}",
            State=f"cust_{i}",
            WelcomeCode=f"w{i}",
        )
        pushes.append(sender.envelope(plain))
    return pushes


def floor(pushes: list[tuple[dict[str, str], str]]) -> float:
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
    start = time.perf_counter()
    for params, body in pushes:
        xml = crypto.decrypt_message(
            body, params["msg_signature"], params["timestamp"], params["nonce"]
        )
        parse_message(xml)
    return len(pushes) / (time.perf_counter() - start)


async def measured(
    pushes: list[tuple[dict[str, str], str]], sandbox: Sandbox
) -> tuple[float, list[float]]:
    data = Path(tempfile.mkdtemp(prefix="bench-callback-"))
    settings = load_settings(
        wecom_corp_id=CORP,
        wecom_agent_id="1",
        wecom_secret="s",
        wecom_token=TOKEN,
        wecom_encoding_aes_key=AES_KEY,
        database_url=f"sqlite:///{data / 'bench.db'}",
    )
    engine = create_db_engine(settings.effective_database_url)
    upgrade(engine)
    runtime = build_runtime(settings, engine)
    app = create_app(runtime, run_workers=False)
    requests = [(urlencode(p), b.encode()) for p, b in pushes]
    await call_asgi(app, *requests[0])  # warm-up (the first push is then a duplicate)
    latencies = []
    start = time.perf_counter()
    for query, body in requests[1:]:
        t0 = time.perf_counter()
        status = await call_asgi(app, query, body)
        latencies.append(time.perf_counter() - t0)
        assert status == 200, status
    rate = (len(requests) - 1) / (time.perf_counter() - start)
    await runtime.aclose()
    return rate, latencies


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    sandbox = Sandbox(corp_id=CORP, secret="s", agent_id=1, token=TOKEN, encoding_aes_key=AES_KEY)
    pushes = make_pushes(sandbox, n)
    floor_rate = floor(pushes)
    rate, lat = asyncio.run(measured(pushes, sandbox))
    lat_ms = sorted(x * 1000 for x in lat)
    p99 = lat_ms[int(len(lat_ms) * 0.99) - 1]
    print(f"pushes: {n}")
    print(f"floor (bare wechatpy decrypt+parse): {floor_rate:,.0f}/s")
    print(f"bot ASGI app, stored before ack:     {rate:,.0f}/s")
    print(f"ratio: {rate / floor_rate:.3f}  (aim >= 0.3)")
    print(
        f"ack latency p50 {statistics.median(lat_ms):.2f} ms, p99 {p99:.2f} ms  (aim p99 < 20 ms)"
    )


if __name__ == "__main__":
    main()
