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
    assert "总部导入客户名册：顾问：新增 4" in out and "拒绝 0 行" in out
    assert "可用指令" in out
    assert "按钮现为「已联系客户」" in out
    assert "[模板卡片] 客户 张* 手机：138****1234" in out
    assert "该客户不在您的服务名单中，无法查看" in out
    assert "未能自动匹配客户档案" in out
    assert "为客户 张* 推荐话术：" in out and "合规编号 HG-" in out
    assert "❌ 不可发送" in out and "「保本」" in out
    assert "✅ 未发现违规用语，可以发送" in out
    inboxes = out.split("各顾问在企业微信中收到的消息")[1]
    assert "张伟" not in inboxes and "13812341234" not in inboxes
    assert "丢弃" not in out
