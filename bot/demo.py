"""`advisor-bot demo`: the whole path on the embedded default, with the WeCom sandbox.

Starts the sandbox and the bot on loopback ports, loads a demo customer book (as HQ's feed
would) and the matching WeCom members and contacts into the sandbox, plays a scripted
exchange through the real encrypted callback path, and prints what each advisor received.
Without `--once` it then keeps serving the sandbox's inbox page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bot import logs
from bot.app import Runtime, build_runtime, create_app
from bot.clock import SystemClock
from bot.config import load_settings
from bot.customers import sample
from bot.customers.feeds import Row
from bot.customers.ingest import ingest
from bot.db import create_db_engine, upgrade
from bot.followup import outcomes
from bot.scripts.seed import seed_library
from bot.serving import start
from bot.wecom.sandbox import CallbackSender, Sandbox, create_sandbox_app

ADVISORS = {a["userid"]: a["name"] for a in sample.advisors(2)}
STAR_NO = "3100900001"
# external_userid, name, advisor, contact-me QR state (the customer number), remark mobiles
CUSTOMERS: list[tuple[str, str, str, str, list[str]]] = [
    ("wmZhangWei001", "张伟", "wangfang", STAR_NO, []),
    ("wmStranger002", "陈小姐", "wangfang", "", []),
]


def demo_book(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Sample advisors and customers, plus 张伟: a customer with something to act on."""
    advisors = [
        *sample.advisors(2),
        {"userid": "zhoumin", "name": "周敏", "branch": "合规部", "role": "compliance"},
    ]
    customers = sample.customers(40, advisor_ids=["wangfang", "lijun"], today=now.date())
    star = dict(
        customers[0],
        customer_no=STAR_NO,
        name="张伟",
        mobile="13812341234",
        gender="male",
        advisor_userid="wangfang",
        risk_level="C3",
        risk_assessed_on=(now.date() - timedelta(days=400)).isoformat(),
        risk_expires_on=(now.date() + timedelta(days=330)).isoformat(),
        total_assets=760_000,
        cash=120_000,
        margin={"maintenance_ratio": 1.42},
        tags=["两融", "高净值"],
    )
    star["holdings"] = [
        {
            "code": "300750",
            "name": "宁德时代",
            "kind": "stock",
            "risk_level": "R4",
            "quantity": 800,
            "cost": 168000,
            "market_value": 151200,
            "day_change_pct": -10.0,
        },
        {
            "code": "510300",
            "name": "沪深300ETF",
            "kind": "fund",
            "risk_level": "R3",
            "quantity": 50000,
            "cost": 190000,
            "market_value": 201500,
            "day_change_pct": -1.2,
        },
        {
            "code": "WM2024A",
            "name": "稳健理财90天",
            "kind": "wealth",
            "risk_level": "R2",
            "quantity": 200000,
            "cost": 200000,
            "market_value": 203100,
            "maturity_date": (now.date() + timedelta(days=3)).isoformat(),
        },
    ]
    events: list[dict[str, Any]] = [
        {
            "event_id": "demo-ev-1",
            "customer_no": STAR_NO,
            "type": "withdrawal",
            "occurred_at": (now - timedelta(hours=2)).isoformat(),
            "amount": 285000,
        },
        {
            "event_id": "demo-ev-2",
            "customer_no": STAR_NO,
            "type": "login",
            "occurred_at": (now - timedelta(hours=1)).isoformat(),
        },
    ]
    book: dict[str, list[dict[str, Any]]] = {"advisors": advisors, "events": events}
    book["customers"] = [star, *customers[1:]]
    return book


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
    for external_userid, name, advisor, state, mobiles in CUSTOMERS:
        sandbox.add_external_contact(
            external_userid,
            name=name,
            follow_user=[
                {
                    "userid": advisor,
                    "remark": name,
                    "state": state,
                    "remark_mobiles": mobiles,
                    "createtime": int(time.time()),
                }
            ],
        )
    return sandbox


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


def _indent(text: str | None) -> str:
    return (text or "").replace("\n", "\n    ")


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
        bot_sidebar_dev_login=True,
    )
    engine = create_db_engine(settings.effective_database_url)
    upgrade(engine)
    runtime = build_runtime(settings, engine, clock=SystemClock())
    seed_library(
        engine,
        directory=settings.bot_scripts_dir,
        knowledge=runtime.catalog.knowledge,
        checker=runtime.checker,
        clock=runtime.clock,
    )
    bot_server = await start(create_app(runtime), host=host, port=port)
    wecom = CallbackSender(
        sandbox, httpx.AsyncClient(timeout=10), f"{bot_server.url}/wecom/callback"
    )
    say = print
    try:
        say(f"机器人：{bot_server.url}    企业微信沙箱：{sandbox_server.url}    数据：{data_dir}")
        verified = await wecom.verify_url()
        say(f"\n[1] 企业微信校验回调 URL：HTTP {verified.status_code}，回显 {verified.text}")

        book = demo_book(datetime.now(UTC))
        rows = [
            Row(kind, i, r)
            for kind, records in book.items()
            for i, r in enumerate(records, start=1)
        ]
        report = await asyncio.to_thread(ingest, engine, rows, clock=runtime.clock, source="feed")
        say(f"\n[2] 总部导入客户名册：{report.summary()}")

        result = await wecom.send_text("wangfang", "帮助")
        say(f"\n[3] 王芳发送「帮助」，机器人被动回复（加密）：\n    {_indent(result.reply)}")

        replay = wecom.contact_event_xml(
            "add_external_contact", "wangfang", "wmZhangWei001", State=STAR_NO, WelcomeCode="demo"
        )
        for _ in range(3):  # WeCom retries: the same push three times, one effect
            await wecom.post(replay)
        await wait_idle(runtime)
        say(
            "\n[4] 客户张伟扫描王芳的「联系我」二维码"
            "（State 为客户号；同一推送投递 3 次，只处理一次）：绑定客户档案，向王芳推送客户卡片"
        )

        card = next(d for d in sandbox.inbox("wangfang") if d.msgtype == "template_card")
        assert card.task_id is not None
        key = outcomes.button_key("contacted", card.task_id)
        clicked = await wecom.click_button("wangfang", card.task_id, key)
        await wait_idle(runtime)
        say(
            f"\n[5] 王芳在卡片上点击「已联系」：HTTP {clicked.status_code}；"
            f"跟进已记录，按钮现为「{card.button_label}」"
        )

        for text in ("1234", "查 3100000001", "今天行情怎么样"):  # ...0001 is 李军's customer
            result = await wecom.send_text("wangfang", text)
            await wait_idle(runtime)
            say(f"\n[6] 王芳发送「{text}」，机器人回复：\n    {_indent(result.reply)}")

        await wecom.add_external_contact("wangfang", "wmStranger002")
        await wait_idle(runtime)
        say("\n[7] 一位未留客户号的客户添加了王芳：机器人请王芳从最接近的客户中选择绑定")

        await wecom.send_text("wangfang", "张伟")  # 张伟's card is now the customer in view
        result = await wecom.send_text("wangfang", "话术 资金转出")
        say(
            f"\n[8] 王芳发送「话术 资金转出」（针对刚查看的客户张伟），机器人回复：\n    "
            f"{_indent(result.reply)}"
        )

        draft = "张总，这款理财保本，年化收益预计6%，错过就没了！"
        result = await wecom.send_text("wangfang", f"检查 {draft}")
        say(f"\n[9] 王芳发送「检查 {draft}」，机器人回复：\n    {_indent(result.reply)}")
        fixed = "张总您好，这款理财为R2级产品，本产品不保本，可能损失本金。投资有风险，入市需谨慎。"
        result = await wecom.send_text("wangfang", f"检查 {fixed}")
        say(f"\n[10] 王芳改写后再检查：{result.reply}")
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
    say(
        f"\n在浏览器打开 {sandbox_server.url}/ 查看各顾问的企业微信收件箱；"
        f"侧边栏示例：{bot_server.url}/sidebar?dev_user=wangfang&external_userid=wmZhangWei001"
        f"；合规控制台：{bot_server.url}/compliance/?dev_user=zhoumin；按 Ctrl-C 退出。"
    )
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
