"""Real processes over loopback HTTP: `serve` killed after acknowledging, `worker` finishing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot import serving
from bot.wecom.sandbox import CallbackSender, Sandbox, create_sandbox_app
from tests.conftest import AGENT_ID, APP, SECRET


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, api_base: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    env.update(
        {
            "WECOM_CORP_ID": APP["corp_id"],
            "WECOM_AGENT_ID": str(AGENT_ID),
            "WECOM_SECRET": SECRET,
            "WECOM_TOKEN": APP["token"],
            "WECOM_ENCODING_AES_KEY": APP["encoding_aes_key"],
            "WECOM_API_BASE": api_base,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        }
    )
    return env


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "serve exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError("serve did not become healthy")


async def test_a_push_acknowledged_by_a_killed_server_is_completed_by_a_worker(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(
        corp_id=APP["corp_id"],
        secret=SECRET,
        agent_id=AGENT_ID,
        token=APP["token"],
        encoding_aes_key=APP["encoding_aes_key"],
    )
    sandbox.add_member("wangfang", "王芳")
    sandbox.add_external_contact("wmZhang", name="张伟", follow_user=[{"userid": "wangfang"}])
    wecom_server = await serving.start(create_sandbox_app(sandbox))
    env = _env(tmp_path, f"{wecom_server.url}/cgi-bin")
    port = _free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-workers",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bot_url = f"http://127.0.0.1:{port}"
        _wait_healthy(bot_url, serve)
        async with httpx.AsyncClient(timeout=10) as http:
            sender = CallbackSender(sandbox, http, f"{bot_url}/wecom/callback")
            result = await sender.add_external_contact("wangfang", "wmZhang", state="cust_7")
        assert result.status_code == 200
    finally:
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
    assert sandbox.inbox("wangfang") == []

    # Async, so that the sandbox (served from this event loop) can answer the worker.
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "worker",
        "--once",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(worker.communicate(), timeout=60)
    await wecom_server.stop()
    assert worker.returncode == 0, stderr.decode()
    [message] = sandbox.inbox("wangfang")
    assert message.body["content"].startswith("新客户 张* 添加了您")
    assert SECRET not in stderr.decode()
