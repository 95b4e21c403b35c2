"""The API client against the sandbox: tokens, WeCom's error codes, retries and paging."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.engine import Engine

from bot.clock import FakeClock
from bot.wecom import cards, errors
from bot.wecom.client import DbTokenStore, WeComClient
from bot.wecom.sandbox import Sandbox
from tests.conftest import AGENT_ID, APP, FAST_RETRY, SECRET, sandbox_http


def client_for(
    engine: Engine,
    sandbox: Sandbox,
    clock: FakeClock,
    *,
    secret: str = SECRET,
    http: httpx.AsyncClient | None = None,
) -> WeComClient:
    return WeComClient(
        base_url="http://wecom.sandbox/cgi-bin",
        corp_id=APP["corp_id"],
        secret=secret,
        agent_id=AGENT_ID,
        token_store=DbTokenStore(engine, f"{APP['corp_id']}:{AGENT_ID}"),
        clock=clock,
        http=http or sandbox_http(sandbox),
        retry=FAST_RETRY,
    )


@pytest.fixture
async def client(engine: Engine, sandbox: Sandbox, clock: FakeClock):  # type: ignore[no-untyped-def]
    c = client_for(engine, sandbox, clock)
    yield c
    await c.aclose()


async def test_token_is_fetched_once_and_shared_between_workers(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    workers = [client_for(engine, sandbox, clock) for _ in range(3)]
    await asyncio.gather(
        *(
            w.send_message("wangfang", "text", cards.text(f"第{i}条"))
            for i, w in enumerate(workers)
            for _ in range(3)
        )
    )
    assert sandbox.calls["/gettoken"] == 1
    assert len(sandbox.inbox("wangfang")) == 9
    for w in workers:
        await w.aclose()


async def test_token_is_refreshed_before_it_expires(
    client: WeComClient, sandbox: Sandbox, clock: FakeClock
) -> None:
    await client.send_message("wangfang", "text", cards.text("一"))
    clock.advance(7200 - 200)  # inside the refresh margin, still valid at WeCom
    await client.send_message("wangfang", "text", cards.text("二"))
    assert sandbox.calls["/gettoken"] == 2
    assert sandbox.calls["/message/send"] == 2  # no call was wasted on a dying token


@pytest.mark.parametrize("errcode", [42001, 40014])
async def test_refused_token_is_dropped_and_the_call_retried_once(
    client: WeComClient, sandbox: Sandbox, errcode: int
) -> None:
    await client.send_message("wangfang", "text", cards.text("预热"))
    if errcode == 42001:
        sandbox.expire_tokens()
    else:
        sandbox.tokens.clear()  # WeCom no longer knows the token: 40014
    result = await client.send_message("wangfang", "text", cards.text("重试后送达"))
    assert result["errcode"] == 0
    assert sandbox.calls["/gettoken"] == 2
    assert sandbox.calls["/message/send"] == 3
    assert [m.body["content"] for m in sandbox.inbox("wangfang")] == ["预热", "重试后送达"]


async def test_token_refused_twice_raises_with_the_errcode(
    client: WeComClient, sandbox: Sandbox
) -> None:
    sandbox.inject("/message/send", 42001, times=2)
    with pytest.raises(errors.WeComTokenError) as info:
        await client.send_message("wangfang", "text", cards.text("x"))
    assert info.value.errcode == 42001
    assert sandbox.calls["/message/send"] == 2  # once, then exactly one retry


async def test_invalid_secret_stops_at_once(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    client = client_for(engine, sandbox, clock, secret="wrong-secret")
    with pytest.raises(errors.WeComCredentialError) as info:
        await client.send_message("wangfang", "text", cards.text("x"))
    assert info.value.errcode == 40001
    assert sandbox.calls["/gettoken"] == 1  # no loop
    assert sandbox.calls["/message/send"] == 0
    # The refresh lease is released: a corrected worker is not blocked behind it.
    fixed = client_for(engine, sandbox, clock)
    assert (await fixed.send_message("wangfang", "text", cards.text("好")))["errcode"] == 0
    await client.aclose()
    await fixed.aclose()


@pytest.mark.parametrize(
    "errcode, exc",
    [(45009, errors.WeComRateLimited), (45033, errors.WeComRateLimited), (-1, errors.WeComBusy)],
)
async def test_busy_and_limits_back_off_then_succeed(
    client: WeComClient, sandbox: Sandbox, errcode: int, exc: type
) -> None:
    sandbox.inject("/message/send", errcode, times=2)
    result = await client.send_message("wangfang", "text", cards.text("稍后送达"))
    assert result["errcode"] == 0
    assert sandbox.calls["/message/send"] == 3


@pytest.mark.parametrize("errcode, exc", [(45009, errors.WeComRateLimited), (-1, errors.WeComBusy)])
async def test_backoff_is_bounded(
    client: WeComClient, sandbox: Sandbox, errcode: int, exc: type
) -> None:
    sandbox.inject("/message/send", errcode, times=100)
    with pytest.raises(exc) as info:
        await client.send_message("wangfang", "text", cards.text("x"))
    assert info.value.errcode == errcode
    assert sandbox.calls["/message/send"] == FAST_RETRY.attempts


async def test_connection_errors_are_retried_then_raised(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    calls = {"n": 0}

    def refuse(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("connection refused", request=request)

    client = client_for(
        engine, sandbox, clock, http=httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    )
    with pytest.raises(errors.WeComTransportError) as info:
        await client.get_token()
    assert info.value.errcode is None
    assert calls["n"] == FAST_RETRY.attempts
    await client.aclose()


async def test_transient_timeout_is_retried(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    real = sandbox_http(sandbox)
    calls = {"n": 0}

    async def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return await real._transport.handle_async_request(request)

    client = client_for(
        engine, sandbox, clock, http=httpx.AsyncClient(transport=httpx.MockTransport(flaky))
    )
    assert await client.get_token()
    await client.aclose()


async def test_invalid_recipients_raise_81013(client: WeComClient) -> None:
    with pytest.raises(errors.WeComInvalidRecipients) as info:
        await client.send_message("nobody", "text", cards.text("x"))
    assert info.value.errcode == 81013


async def test_button_card_and_its_update(client: WeComClient, sandbox: Sandbox) -> None:
    card = cards.button_card(task_id="t-1", title="提醒", buttons=[cards.Button("已联系", "k1")])
    sent = await client.send_message("wangfang", "template_card", card)
    assert sent["response_code"]
    await client.update_template_card(
        userids=["wangfang"], response_code=sent["response_code"], replace_name="已处理"
    )
    assert sandbox.inbox("wangfang")[0].button_label == "已处理"
    with pytest.raises(errors.WeComRequestError):  # a response code works once
        await client.update_template_card(
            userids=["wangfang"], response_code=sent["response_code"], replace_name="再次"
        )
    with pytest.raises(errors.WeComRequestError) as info:  # task ids are unique per app
        await client.send_message("wangfang", "template_card", card)
    assert info.value.errcode == 42014


async def test_external_contact_follows_the_cursor(client: WeComClient, sandbox: Sandbox) -> None:
    sandbox.follow_user_page = 2
    sandbox.add_external_contact(
        "wmX", name="王五", follow_user=[{"userid": f"u{i}", "state": f"s{i}"} for i in range(5)]
    )
    contact = await client.get_external_contact("wmX")
    assert contact["external_contact"]["name"] == "王五"
    assert [f["userid"] for f in contact["follow_user"]] == ["u0", "u1", "u2", "u3", "u4"]
    assert sandbox.calls["/externalcontact/get"] == 3


async def test_markdown_and_textcard_builders_fit_wecom(
    client: WeComClient, sandbox: Sandbox
) -> None:
    long_text = "持仓提示：" + "宁德时代跌停。" * 400
    body = cards.markdown(long_text)
    assert len(body["content"].encode()) <= cards.MARKDOWN_MAX_BYTES
    assert (await client.send_message("wangfang", "markdown", body))["errcode"] == 0
    card = cards.textcard(
        "大额资金转出提醒" * 20,
        "客户今日转出资金。" * 100,
        "https://bot.example/sidebar",
        btntxt="查看全部详情",
    )
    assert (await client.send_message("wangfang", "textcard", card))["errcode"] == 0
    assert [m.msgtype for m in sandbox.inbox("wangfang")] == ["markdown", "textcard"]
    assert card["btntxt"] == "查看全…"  # 4 characters at most
