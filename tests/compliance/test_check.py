"""The compliance check: disguised banned phrases caught, correct disclosures passed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime, create_app
from bot.compliance.check import Checker
from bot.config import load_settings
from bot.knowledge.base import KnowledgeError, load_knowledge
from bot.wecom.sandbox import CallbackSender

KNOWLEDGE = Path(__file__).parents[2] / "knowledge"


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker(load_knowledge(KNOWLEDGE))


@pytest.mark.parametrize(
    "text, rule, caught",
    [
        ("这款产品保本", "L01", "保本"),
        ("这款产品保　本", "L01", "保　本"),  # full-width space
        ("这款产品保-本，放心", "L01", "保-本"),
        ("ＸＸ理财保本", "L01", "保本"),
        ("穩賺不賠的好機會", "L03", "穩賺不賠"),  # traditional characters
        ("稳 赚 不 赔", "L03", "稳 赚 不 赔"),
        ("保．证．收．益", "L02", "保．证．收．益"),
        ("预期年化收益可达６．５％", "L08", "预期年化收益可达６．５％"),
        ("这只股票明天必涨", "L22", "必涨"),
        ("把交易密码给我，我帮您下单", "L27", "交易密码给我"),
        ("您是Ｃ１也可以买这个Ｒ４", "L32", "Ｃ１也可以买这个Ｒ４"),
        ("测评的时候选激进一点就能买了", "L31", "测评的时候选激进"),
        ("跟银行存款一样安全", "L09", "跟银行存款一样安全"),
        ("有内幕消息", "L25", "内幕消息"),
    ],
)
def test_disguised_banned_phrases_are_caught_with_their_span(
    checker: Checker, text: str, rule: str, caught: str
) -> None:
    result = checker.check(text)
    assert result.blocked
    hit = next(f for f in result.findings if f.rule == rule)
    assert text[hit.start : hit.end] == caught == hit.text
    assert hit.basis and hit.safe_rewording and hit.severity == "block"


@pytest.mark.parametrize(
    "text",
    [
        "本产品不保本，可能损失本金。",
        "我们不承诺收益，也不保证收益，历史表现不代表未来。",
        "本产品不是存款，不受存款保险保障。",
        "基金并非无风险产品，投资有风险，入市需谨慎。",
        "该基金近三年业绩比较基准为3%。基金的过往业绩并不预示其未来表现。",
        "合规培训：禁止对客户说「保本」「稳赚」。",
        "交易须由您本人操作，请勿向任何人透露密码。",
    ],
)
def test_required_and_correct_wording_passes(checker: Checker, text: str) -> None:
    result = checker.check(text)
    assert not result.blocked, result.summary()
    assert result.findings == []


def test_warnings_allow_sending(checker: Checker) -> None:
    result = checker.check("这是市场上唯一的此类产品")
    assert not result.blocked
    assert [f.severity for f in result.findings] == ["warn"]


def test_past_performance_needs_its_disclosure(checker: Checker) -> None:
    assert [f.rule for f in checker.check("该基金过往业绩不错").findings] == ["L37"]
    assert checker.check("该基金过往业绩不错。基金的过往业绩并不预示其未来表现").findings == []


def test_a_required_disclosure_must_be_present(checker: Checker) -> None:
    missing = checker.check("沪深300ETF适合长期定投。", required=["general_risk"])
    assert missing.blocked and [d.key for d in missing.missing_disclosures] == ["general_risk"]
    present = checker.check(
        "沪深300ETF适合长期定投。投资有风险 入市需谨慎", required=["general_risk"]
    )
    assert not present.blocked


def test_broken_knowledge_names_file_line_and_field(tmp_path: Path) -> None:
    shutil.copytree(KNOWLEDGE, tmp_path / "k")
    lexicon = tmp_path / "k" / "lexicon.yaml"
    text = lexicon.read_text(encoding="utf-8").replace("severity: block", "severity: forbid", 1)
    lexicon.write_text(
        text.replace('patterns: ["保本"]', 'patterns: ["保本("]', 1), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError) as info:
        load_knowledge(tmp_path / "k")
    problems = [str(p) for p in info.value.problems]
    broken = lexicon.read_text(encoding="utf-8").splitlines()
    pattern_line = next(i for i, t in enumerate(broken, 1) if t.strip() == 'patterns: ["保本("]')
    severity_line = next(i for i, t in enumerate(broken, 1) if t.strip() == "severity: forbid")
    assert any(p.startswith(f"{lexicon}:{pattern_line}: patterns:") for p in problems), problems
    assert any(p.startswith(f"{lexicon}:{severity_line}: severity:") for p in problems), problems


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_command_exit_codes_and_json() -> None:
    blocked = _cli("这款产品保本，稳赚不赔", "--json")
    assert blocked.returncode == 1
    data = json.loads(blocked.stdout)
    assert data["may_send"] is False
    assert [f["rule"] for f in data["findings"]] == ["L01", "L03"]
    assert data["findings"][0]["start"] == 4 and data["findings"][0]["end"] == 6
    ok = _cli("本产品不保本，投资有风险，入市需谨慎", "--require", "general_risk")
    assert ok.returncode == 0 and "可以发送" in ok.stdout


async def test_check_endpoint(runtime: Runtime) -> None:
    app = create_app(runtime, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bot"
    ) as http:
        resp = await http.post("/compliance/v1/check", json={"text": "收益有保障，闭眼买"})
        assert resp.status_code == 200
        assert resp.json()["may_send"] is False
        assert {f["rule"] for f in resp.json()["findings"]} == {"L35", "L18"}
        empty = await http.post("/compliance/v1/check", json={"text": ""})
        assert empty.status_code == 400


async def test_check_in_chat(wecom: CallbackSender) -> None:
    reply = (await wecom.send_text("wangfang", "检查 这款理财保本，年化收益预计5%")).reply or ""
    assert reply.startswith("❌ 不可发送")
    assert "「保本」" in reply and "建议改为：本产品不保本，可能损失本金" in reply
    fine = (await wecom.send_text("wangfang", "检查 您好，本产品不保本，投资有风险。")).reply
    assert fine == "✅ 未发现违规用语，可以发送"


def test_settings_point_at_the_shipped_knowledge() -> None:
    assert load_settings().bot_knowledge_dir.resolve() == KNOWLEDGE.resolve()


async def test_advisors_search_the_faq_in_chat(wecom: CallbackSender) -> None:
    reply = (await wecom.send_text("wangfang", "问答 中签缴款")).reply or ""
    assert reply.startswith("问：新股中签后什么时候缴款？")
    assert "T+2 日 16:00" in reply
    assert (await wecom.send_text("wangfang", "问答 火星移民")).reply == (
        "没有找到与「火星移民」相关的问答。"
    )
