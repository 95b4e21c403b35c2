"""Running ASGI apps with uvicorn inside an existing event loop (demo, tests, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Any

import uvicorn


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on `port`, or on any free port if that one is taken (or 0)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.bind((host, 0))
    sock.listen(128)
    return sock


@dataclass
class RunningServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` (lifespan on) until `stop()`; returns once it accepts connections."""
    sock = bind(host, port)
    config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    bound_host, bound_port = sock.getsockname()[:2]
    return RunningServer(server, task, f"http://{bound_host}:{bound_port}")
