"""`advisor-bot demo`: the whole path on the embedded default, with the WeCom sandbox.

Starts the sandbox and the bot on loopback ports, loads demo advisors and customers into the
sandbox, plays a scripted exchange through the real encrypted callback path, and prints what
each advisor received. Without `--once` it then keeps serving the sandbox's inbox page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import tempfile
import time
from pathlib import Path

import httpx

from bot import logs
from bot.app import Runtime, build_runtime, create_app
from bot.clock import SystemClock
from bot.config import load_settings
from bot.db import create_db_engine, session_scope, upgrade
from bot.followup import outcomes
from bot.outbox import service as outbox_service
from bot.serving import start
from bot.wecom import cards
from bot.wecom.sandbox import CallbackSender, Sandbox, create_sandbox_app

ADVISORS = {"wangfang": "王芳", "lijun": "李军", "zhaolei": "赵磊"}
CUSTOMERS = [  # external_userid, name, advisor, contact-me QR state (customer number)
    ("wmZhangWei001", "张伟", "wangfang", "cust_100001"),
    ("wmLiuYang002", "刘洋", "lijun", "cust_100002"),
]


def demo_credentials() -> dict[str, str]:
    return {
        "corp_id": "ww0demo0corp0id",
        "agent_id": "1000002",
        "secret": secrets.token_urlsafe(32),
        "token": secrets.token_urlsafe(16),
        "aes_key": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
    }


def demo_sandbox(creds: dict[str, str]) -> Sandbox:
    sandbox = Sandbox(
        corp_id=creds["corp_id"],
        secret=creds["secret"],
        agent_id=int(creds["agent_id"]),
        token=creds["token"],
        encoding_aes_key=creds["aes_key"],
    )
    for userid, name in ADVISORS.items():
        sandbox.add_member(userid, name)
    for external_userid, name, advisor, state in CUSTOMERS:
        sandbox.add_external_contact(
            external_userid,
            name=name,
            follow_user=[
                {"userid": advisor, "remark": name, "state": state, "createtime": int(time.time())}
            ],
        )
    return sandbox


def queue_demo_reminder(runtime: Runtime, advisor: str) -> str:
    """Put one follow-up card in the outbox, as the reminder engine will (MOT M46)."""
    task_id = f"demo-m46-{secrets.token_hex(4)}"
    card = cards.button_card(
        task_id=task_id,
        title="大额资金转出提醒",
        desc="客户 张* · 今日 10:32",
        sub_title="客户今日银证转出 28.5 万元，占总资产约 60%。建议今日内电话关怀，了解资金安排。",
        rows=[("客户", "张*（138****1234）"), ("资产档", "50-100万"), ("风险等级", "C3 稳健型")],
        buttons=outcomes.buttons(task_id),
    )
    with session_scope(runtime.engine) as session:
        outbox_service.enqueue(
            session,
            clock=runtime.clock,
            natural_key=f"demo:{task_id}",
            recipient=advisor,
            msg_type="template_card",
            payload=card,
            priority=1,
        )
    runtime.notify_workers()
    return task_id


async def wait_idle(runtime: Runtime, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        depths = await asyncio.to_thread(runtime.depths)
        busy = depths["inbox"]["pending"] + sum(
            n for status, n in depths["outbox"].items() if status in ("pending", "sending")
        )
        if not busy:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("演示超时：仍有消息未处理完")


def print_inboxes(sandbox: Sandbox) -> None:
    print("\n======== 各顾问在企业微信中收到的消息（沙箱记录） ========")
    for userid, name in sandbox.members.items():
        messages = sandbox.inbox(userid)
        print(f"\n【{name}（{userid}）】共 {len(messages)} 条")
        for item in messages:
            text = item.as_text().replace("\n", "\n    ")
            print(f"  - {item.at.astimezone().strftime('%H:%M:%S')} {text}")


async def _play(once: bool, host: str, port: int, sandbox_port: int, data_dir: Path) -> None:
    creds = demo_credentials()
    sandbox = demo_sandbox(creds)
    sandbox_server = await start(create_sandbox_app(sandbox), host=host, port=sandbox_port)
    settings = load_settings(
        wecom_corp_id=creds["corp_id"],
        wecom_agent_id=creds["agent_id"],
        wecom_secret=creds["secret"],
        wecom_token=creds["token"],
        wecom_encoding_aes_key=creds["aes_key"],
        wecom_api_base=f"{sandbox_server.url}/cgi-bin",
        database_url=f"sqlite:///{data_dir / 'demo.db'}",
        bot_data_dir=data_dir,
    )
    engine = create_db_engine(settings.effective_database_url)
    upgrade(engine)
    runtime = build_runtime(settings, engine, clock=SystemClock())
    bot_server = await start(create_app(runtime), host=host, port=port)
    wecom = CallbackSender(
        sandbox, httpx.AsyncClient(timeout=10), f"{bot_server.url}/wecom/callback"
    )
    say = print
    try:
        say(f"机器人：{bot_server.url}    企业微信沙箱：{sandbox_server.url}    数据：{data_dir}")
        verified = await wecom.verify_url()
        say(f"\n[1] 企业微信校验回调 URL：HTTP {verified.status_code}，回显 {verified.text}")

        result = await wecom.send_text("wangfang", "帮助")
        say(
            "\n[2] 王芳发送「帮助」，机器人被动回复（加密）：\n    "
            + (result.reply or "").replace("\n", "\n    ")
        )

        result = await wecom.send_text("wangfang", "今天行情怎么样")
        say(f"\n[3] 王芳发送「今天行情怎么样」，机器人回复：{result.reply}")

        task_id = queue_demo_reminder(runtime, "wangfang")
        await wait_idle(runtime)
        say("\n[4] 提醒引擎向王芳推送「大额资金转出提醒」卡片（经发件箱与发送额度）")

        key = outcomes.button_key("contacted", task_id)
        first = await wecom.click_button("wangfang", task_id, key)
        await wait_idle(runtime)
        label = next(
            (d.button_label for d in sandbox.inbox("wangfang") if d.task_id == task_id), None
        )
        say(f"\n[5] 王芳点击「已联系」：HTTP {first.status_code}；跟进已记录，按钮现为「{label}」")

        replay = wecom.contact_event_xml(
            "add_external_contact",
            "wangfang",
            "wmZhangWei001",
            State="cust_100001",
            WelcomeCode="demo",
        )
        for _ in range(3):  # WeCom retries: the same push three times, one effect
            await wecom.post(replay)
        await wait_idle(runtime)
        say("\n[6] 客户张伟扫描王芳的「联系我」二维码（同一推送重复投递 3 次，只处理一次）")
    finally:
        print_inboxes(sandbox)
        if sandbox.dropped:
            say(f"\n注意：沙箱因超出频率限制丢弃了 {len(sandbox.dropped)} 条消息")
    if once:
        await wecom.http.aclose()
        await bot_server.stop()
        await runtime.aclose()
        await sandbox_server.stop()
        return
    say(f"\n在浏览器打开 {sandbox_server.url}/ 查看各顾问的企业微信收件箱；按 Ctrl-C 退出。")
    try:
        await asyncio.Event().wait()
    finally:
        await bot_server.stop()
        await sandbox_server.stop()


def run_demo(
    *, once: bool, host: str, port: int, sandbox_port: int, data_dir: str | None, verbose: bool
) -> int:
    logs.configure("INFO" if verbose else "WARNING")
    logging.getLogger("uvicorn.error").setLevel(logging.INFO if verbose else logging.WARNING)
    directory = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="advisor-bot-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_play(once, host, port, sandbox_port, directory))
    return 0
