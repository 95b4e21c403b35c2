"""`advisor-bot demo --once`: the scripted exchange over real loopback HTTP, end to end."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_once_plays_the_exchange_and_exits_0(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--once",
            "--port",
            "0",
            "--sandbox-port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "企业微信校验回调 URL：HTTP 200" in out
    assert "可用指令" in out
    assert "按钮现为「已联系客户」" in out
    assert "【王芳（wangfang）】共 2 条" in out
    assert "新客户 张* 添加了您为企业微信联系人" in out
    assert "张伟" not in out.split("各顾问在企业微信中收到的消息")[1]
    assert "丢弃" not in out
