"""The callback gateway: what WeCom sends, what forgers send, and nothing lost or doubled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.app import Runtime, create_app
from bot.clock import FakeClock
from bot.followup import outcomes
from bot.followup.models import FollowUp
from bot.wecom.models import InboxMessage
from bot.wecom.sandbox import CallbackSender, Sandbox
from tests.conftest import VECTORS, app_settings, make_runtime, table_counts

CLASSIC = VECTORS["tencent_doc_classic"]


@pytest.fixture
async def classic_bot(engine: Engine, sandbox: Sandbox):  # type: ignore[no-untyped-def]
    """The bot configured with Tencent's documentation credentials, its clock at the sample's."""
    clock = FakeClock(datetime.fromtimestamp(int(CLASSIC["verify"]["timestamp"]), UTC))
    settings = app_settings(
        wecom_corp_id=CLASSIC["corp_id"],
        wecom_token=CLASSIC["token"],
        wecom_encoding_aes_key=CLASSIC["encoding_aes_key"],
    )
    rt = await make_runtime(engine, sandbox, clock, settings=settings)
    app = create_app(rt, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as http:
        yield rt, clock, http
    await rt.aclose()


async def test_url_verification_with_tencents_sample(classic_bot) -> None:  # type: ignore[no-untyped-def]
    _, _, http = classic_bot
    v = CLASSIC["verify"]
    query = (
        f"msg_signature={v['msg_signature']}&timestamp={v['timestamp']}&nonce={v['nonce']}"
        f"&echostr={v['echostr_urlencoded']}"
    )
    resp = await http.get(f"/wecom/callback?{query}")
    assert resp.status_code == 200
    assert resp.text == v["expected_plain"]


async def test_tencents_sample_push_is_stored_and_answered(classic_bot, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    rt, clock, http = classic_bot
    v = CLASSIC["post"]
    clock.advance(int(v["timestamp"]) - clock.now().timestamp())
    body = (
        f"<xml><ToUserName><![CDATA[{CLASSIC['corp_id']}]]></ToUserName>"
        f"<Encrypt><![CDATA[{v['encrypt']}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    )
    resp = await http.post(
        "/wecom/callback",
        params={
            "msg_signature": v["msg_signature"],
            "timestamp": v["timestamp"],
            "nonce": v["nonce"],
        },
        content=body,
    )
    assert resp.status_code == 200
    assert "<Encrypt>" in resp.text  # "hello" is a search with no match: an instant answer
    with Session(engine) as s:
        row = s.exec(select(InboxMessage)).one()
    assert row.dedupe_key == "msg:4561255354251345929"
    assert row.from_user == "mycreate"
    assert row.status == "done"
    assert "没有找到与「hello」匹配的客户" in (row.passive_reply or "")


async def test_help_gets_an_encrypted_passive_reply(wecom: CallbackSender) -> None:
    result = await wecom.send_text("wangfang", "帮助")
    assert result.status_code == 200
    assert result.reply is not None and "可用指令" in result.reply


async def test_text_that_is_no_command_gets_a_helpful_reply(wecom: CallbackSender) -> None:
    result = await wecom.send_text("wangfang", "随便说点什么")
    assert result.reply == (
        "没有找到与「随便说点什么」匹配的客户。可输入客户姓名、手机尾号后 4 位或客户号；"
        "发送「帮助」查看全部指令。"
    )


def _bad_requests(wecom: CallbackSender) -> dict[str, tuple[dict[str, str], bytes, int, str]]:
    good_plain = wecom.text_xml("wangfang", "帮助", msgid=42)
    params, body = wecom.envelope(good_plain)
    forged = dict(params, msg_signature="f" * 40)
    stale_params, stale_body = wecom.envelope(
        good_plain, timestamp=int(wecom.sandbox.clock.now().timestamp()) - 3600
    )
    other_corp = CallbackSender.__new__(CallbackSender)
    other_corp.__dict__.update(wecom.__dict__)
    from bot.wecom.crypto import CallbackCrypto

    other_corp.crypto = CallbackCrypto(
        token=wecom.sandbox.token,
        encoding_aes_key=wecom.sandbox.encoding_aes_key,
        corp_id="wwAnotherCorp",
    )
    wrong_params, wrong_body = other_corp.envelope(good_plain)
    no_type_params, no_type_body = wecom.envelope(
        good_plain.replace("<MsgType><![CDATA[text]]></MsgType>", "")
    )
    entity_plain = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]>'
        "<xml><ToUserName>x</ToUserName></xml>"
    )
    inner_dtd_params, inner_dtd_body = wecom.envelope(entity_plain)
    dtd_body = '<!DOCTYPE xml [<!ENTITY boom "boom">]><xml><Encrypt>&boom;</Encrypt></xml>'
    return {
        "bad signature": (forged, body.encode(), 403, "bad_signature"),
        "wrong corp id": (wrong_params, wrong_body.encode(), 403, "wrong_corp_id"),
        "stale timestamp": (stale_params, stale_body.encode(), 400, "stale_timestamp"),
        "body over 64 KiB": (
            params,
            b"<xml>" + b" " * (65 * 1024) + b"</xml>",
            413,
            "body_too_large",
        ),
        "outer DTD and entity": (params, dtd_body.encode(), 400, "unsafe_xml"),
        "inner DTD and entity": (inner_dtd_params, inner_dtd_body.encode(), 400, "unsafe_xml"),
        "missing Encrypt": (params, b"<xml><ToUserName>x</ToUserName></xml>", 400, "missing_field"),
        "missing nonce": (
            {k: v for k, v in params.items() if k != "nonce"},
            body.encode(),
            400,
            "missing_field",
        ),
        "missing MsgType": (no_type_params, no_type_body.encode(), 400, "missing_field"),
        "not XML": (params, b"hello", 400, "bad_xml"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "wrong corp id",
        "stale timestamp",
        "body over 64 KiB",
        "outer DTD and entity",
        "inner DTD and entity",
        "missing Encrypt",
        "missing nonce",
        "missing MsgType",
        "not XML",
    ],
)
async def test_bad_callback_is_refused_and_changes_nothing(
    case: str, wecom: CallbackSender, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    await wecom.send_text("lijun", "帮助")  # something already stored that must stay intact
    before = table_counts(engine)
    params, body, status, code = _bad_requests(wecom)[case]
    with caplog.at_level(logging.WARNING, logger="bot.wecom.gateway"):
        resp = await wecom.http.post(wecom.url, params=params, content=body)
    assert resp.status_code == status
    assert resp.json()["error"] == code
    assert resp.json()["message"]  # a short human-readable reason
    assert table_counts(engine) == before
    assert any(getattr(r, "reason", None) == code for r in caplog.records)


async def test_forged_url_verification_is_refused(wecom: CallbackSender) -> None:
    resp = await wecom.http.get(
        wecom.url,
        params={
            "msg_signature": "0" * 40,
            "timestamp": str(int(wecom.sandbox.clock.now().timestamp())),
            "nonce": "1",
            "echostr": "abc",
        },
    )
    assert resp.status_code == 403


async def test_a_push_delivered_three_times_has_one_effect(
    wecom: CallbackSender, runtime: Runtime, sandbox: Sandbox, engine: Engine
) -> None:
    click = wecom.click_xml("wangfang", "task-1", outcomes.button_key("contacted", "task-1"))
    for _ in range(3):
        assert (await wecom.post(click)).status_code == 200
    await runtime.run_until_idle()
    with Session(engine) as s:
        assert len(s.exec(select(InboxMessage)).all()) == 1
        logged = s.exec(select(FollowUp)).all()
    assert [(f.advisor_userid, f.task_id, f.outcome) for f in logged] == [
        ("wangfang", "task-1", "contacted")
    ]
    assert sandbox.calls["/message/update_template_card"] == 1


async def test_a_repeated_message_gets_the_same_instant_reply(wecom: CallbackSender) -> None:
    plain = wecom.text_xml("wangfang", "帮助", msgid=777)
    first, second = await wecom.post(plain), await wecom.post(plain)
    assert first.reply == second.reply and first.reply


async def test_two_contact_events_in_the_same_second_are_both_kept(
    wecom: CallbackSender, runtime: Runtime, engine: Engine
) -> None:
    for ext in ("wmA", "wmB"):
        await wecom.post(wecom.contact_event_xml("del_follow_user", "wangfang", ext))
    with Session(engine) as s:
        assert len(s.exec(select(InboxMessage)).all()) == 2


async def test_push_survives_a_crash_between_acknowledgement_and_handling(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.add_external_contact("wmZhang", name="张伟", follow_user=[{"userid": "wangfang"}])
    first = await make_runtime(engine, sandbox, clock)
    app = create_app(first, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as http:
        wecom = CallbackSender(sandbox, http, "http://bot/wecom/callback")
        result = await wecom.add_external_contact("wangfang", "wmZhang", state="cust_1")
        assert result.status_code == 200
    # The process dies after the 200: processing had started (rows claimed) but never finished.
    claimed = first.inbox._claim()
    assert len(claimed) == 1
    await first.aclose()
    assert sandbox.inbox("wangfang") == []

    restarted = await make_runtime(engine, sandbox, clock)
    await restarted.run_until_idle()
    assert sandbox.inbox("wangfang") == []  # the dead worker's lease still holds
    clock.advance(61)
    await restarted.run_until_idle()
    await restarted.aclose()
    messages = sandbox.inbox("wangfang")
    assert len(messages) == 1
    assert "新客户 张* 添加了您" in messages[0].body["content"]
    assert "张伟" not in messages[0].body["content"]


async def test_pending_pushes_are_processed_after_a_restart(
    engine: Engine, sandbox: Sandbox, clock: FakeClock
) -> None:
    sandbox.add_external_contact("wmLiu", name="刘洋", follow_user=[{"userid": "lijun"}])
    first = await make_runtime(engine, sandbox, clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(first, run_workers=False)),
        base_url="http://bot",
    ) as http:
        await CallbackSender(sandbox, http, "http://bot/wecom/callback").add_external_contact(
            "lijun", "wmLiu"
        )
    await first.aclose()  # killed before its worker ever looked at the inbox
    restarted = await make_runtime(engine, sandbox, clock)
    await restarted.run_until_idle()
    await restarted.aclose()
    assert len(sandbox.inbox("lijun")) == 1
