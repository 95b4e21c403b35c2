"""Only suitable scripts reach a customer, ranked with reasons; every one shown is logged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.app import Runtime
from bot.clock import FakeClock
from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge
from bot.scripts.excel import export, import_file
from bot.scripts.ranking import Audience
from bot.scripts.suitability import product_allowed
from bot.wecom.sandbox import CallbackSender
from tests.conftest import LIBRARY

LEVELS = ["C1", "C2", "C3", "C4", "C5"]
PRODUCTS = ["R1", "R2", "R3", "R4", "R5"]
TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("c", LEVELS)
@pytest.mark.parametrize("r", PRODUCTS)
def test_every_customer_level_against_every_product_level(c: str, r: str) -> None:
    verdict = product_allowed(
        investor_type="ordinary",
        risk_level=c,
        product_level=r,
        assessment_valid_until=TODAY + timedelta(days=1),
        today=TODAY,
    )
    assert verdict.allowed == (int(r[1]) <= int(c[1]))
    if not verdict.allowed:
        assert verdict.reason == f"产品风险等级 {r} 高于客户风险承受能力 {c}，不得推荐"


@pytest.mark.parametrize("r", PRODUCTS)
def test_no_product_at_all_while_the_assessment_has_expired(r: str) -> None:
    verdict = product_allowed(
        investor_type="ordinary",
        risk_level="C5",
        product_level=r,
        assessment_valid_until=TODAY - timedelta(days=1),
        today=TODAY,
    )
    assert not verdict.allowed and "过期" in (verdict.reason or "")


def test_professional_investors_follow_their_own_rule() -> None:
    assert product_allowed(
        investor_type="professional",
        risk_level="C1",
        product_level="R5",
        assessment_valid_until=TODAY - timedelta(days=1),
        today=TODAY,
    ).allowed


def audience(
    level: str, *, expired: bool = False, tags: tuple[str, ...] = (), opt_out: bool = False
) -> Audience:
    valid = TODAY + (timedelta(days=-1) if expired else timedelta(days=300))
    return Audience(
        customer_no="3100000001",
        investor_type="ordinary",
        risk_level=level,
        assessment_valid_until=valid,
        marketing_opt_out=opt_out,
        tags=tags,
        context={
            "customer": {
                "salutation": "张先生",
                "name": "张*",
                "risk_level": level,
                "risk_label": "",
                "risk_valid_until": str(valid),
                "asset_range": "",
                "investor_type": "普通投资者",
            },
            "advisor": {"name": "王芳"},
        },
    )


def test_ranking_returns_approved_suitable_scripts_rendered_with_reasons(
    runtime: Runtime, seeded: Any
) -> None:
    ranked = runtime.catalog.suggest(audience=audience("C3"), today=TODAY, text="资金转出 关怀")
    assert len(ranked.suggestions) == 3
    top = ranked.suggestions[0]
    assert top.script_id.startswith("S-M46")
    assert top.text.startswith("张先生您好")  # rendered for the customer
    assert any(w.startswith("文本匹配") for w in top.why)
    assert any(w.startswith("有效率") for w in top.why)


def test_nothing_above_the_customers_level_and_refusals_say_why(
    runtime: Runtime, seeded: Any, knowledge: Knowledge
) -> None:
    for level in LEVELS:
        ranked = runtime.catalog.suggest(
            audience=audience(level), today=TODAY, text="两融 期权 基金 理财 定投", k=20
        )
        for s in ranked.suggestions:
            for code in s.row.products:
                assert int(knowledge.products[code].risk_level[1]) <= int(level[1])
    c1 = runtime.catalog.suggest(audience=audience("C1"), today=TODAY, text="两融担保比例")
    assert any("不得推荐" in reason or "面向" in reason for _, reason in c1.refused)


def test_an_expired_assessment_gets_no_product_script(runtime: Runtime, seeded: Any) -> None:
    ranked = runtime.catalog.suggest(
        audience=audience("C5", expired=True), today=TODAY, text="理财 到期 基金 定投", k=10
    )
    assert ranked.suggestions and all(not s.row.products for s in ranked.suggestions)
    assert any("测评" in reason for _, reason in ranked.refused)


def test_marketing_opt_out_is_respected(runtime: Runtime, seeded: Any) -> None:
    ranked = runtime.catalog.suggest(
        audience=audience("C5", opt_out=True), today=TODAY, text="新发产品", k=10
    )
    assert all(s.row.intent != "营销" for s in ranked.suggestions)


async def test_script_command_suggests_for_the_customer_in_view_and_logs_versions(
    wecom: CallbackSender, runtime: Runtime, seeded: Any, engine: Engine, customers_book: Any
) -> None:
    await wecom.send_text("wangfang", "张伟")  # opens 张伟's card: the customer in view
    reply = (await wecom.send_text("wangfang", "话术 资金转出")).reply or ""
    assert reply.startswith("为客户 张* 推荐话术：")
    assert "【大额资金转出关怀" in reply and "合规编号 HG-" in reply and "推荐理由" in reply
    assert "张先生您好" in reply
    assert len(reply.encode()) <= 2048
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT script_id, version, customer_no, channel, action FROM script_delivery")
        ).all()
    chat = [r for r in rows if r[3] == "chat"]
    card = [r for r in rows if r[3] == "card"]  # the card itself carried the best script
    assert len(chat) == 3 and len(card) == 1
    assert {r[2] for r in rows} == {"3100000000"} and all(r[1] == 1 for r in rows)


async def test_script_command_without_a_customer_offers_only_general_scripts(
    wecom: CallbackSender, seeded: Any, customers_book: Any
) -> None:
    reply = (await wecom.send_text("lijun", "话术 生日")).reply or ""
    assert reply.startswith("推荐话术（未指定客户，仅显示通用服务话术）：")
    refused = (await wecom.send_text("wangfang", "话术 3100000001 生日")).reply
    assert refused == "该客户不在您的服务名单中，无法查看。"


def test_lint_reports_file_line_and_reason(tmp_path: Path, knowledge: Knowledge) -> None:
    library = tmp_path / "lib"
    shutil.copytree(LIBRARY, library)
    path = library / "retention.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("想了解一下是否有资金安排上需要我协助的地方", "这款产品保本，稳赚不赔", 1)
    text = text.replace(
        "customer.salutation }}您好，最近一段时间", "customer.id_no }}您好，最近一段时间"
    )
    path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECOM_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "scripts", "lint", str(library)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    line_of = {s: i for i, s in enumerate(text.splitlines(), start=1)}
    assert f"{path}:{line_of['- id: S-M46-01']}: S-M46-01: body: 含禁用语「保本」" in result.stdout
    assert any(
        ln.startswith(f"{path}:{line_of['- id: S-M47-01']}: S-M47-01: body: 未知的占位符")
        for ln in lines
    ), lines
    ok = subprocess.run(
        [sys.executable, "-m", "bot", "scripts", "lint", str(LIBRARY)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout


def test_lint_finds_near_duplicates(tmp_path: Path, knowledge: Knowledge, checker: Checker) -> None:
    from bot.scripts.library import lint

    library = tmp_path / "lib"
    shutil.copytree(LIBRARY, library)
    path = library / "retention.yaml"
    text = path.read_text(encoding="utf-8")
    block = text[text.index("- id: S-M46-01") : text.index("- id: S-M46-02")]
    path.write_text(
        text + "\n" + block.replace("S-M46-01", "S-M46-09").replace("大额资金转出关怀", "转出关怀"),
        encoding="utf-8",
    )
    problems = [str(p) for p in lint(library, knowledge, checker)]
    assert any("S-M46-09: 与 S-M46-01" in p and "几乎相同" in p for p in problems), problems


def test_excel_round_trip_and_no_approval_by_import(
    engine: Engine,
    clock: FakeClock,
    knowledge: Knowledge,
    checker: Checker,
    seeded: Any,
    tmp_path: Path,
) -> None:
    from openpyxl import load_workbook

    path = tmp_path / "library.xlsx"
    with Session(engine) as session:
        assert export(session, path) == 66
    with Session(engine) as session:
        counts, problems = import_file(
            session, path, clock=clock, knowledge=knowledge, checker=checker, actor="qa"
        )
        session.commit()
    assert problems == [] and counts == {"inserted": 0, "updated": 0, "unchanged": 66}
    book = load_workbook(path)
    sheet = book["scripts"]
    header = [c.value for c in sheet[1]]
    body_col = header.index("body") + 1
    sheet.cell(row=2, column=body_col).value = "{{ customer.salutation }}您好，内容被改了，请留意。"
    new_row = [c.value for c in sheet[3]]
    new_row[header.index("id")] = "S-NEW-01"
    new_row[header.index("body")] = (
        "{{ customer.salutation }}您好，这是一条新写的节日问候，祝您节日快乐。"
    )
    sheet.append(new_row)
    book.save(path)
    with Session(engine) as session:
        counts, problems = import_file(
            session, path, clock=clock, knowledge=knowledge, checker=checker, actor="qa"
        )
        session.commit()
        from bot.scripts import service

        new = service.get(session, script_id="S-NEW-01", version=1)
    assert [p.line for p in problems] == [2] and "不可修改" in problems[0].reason
    assert new is not None and new.status == "submitted" and new.reviewer is None


async def test_measured_effectiveness_lifts_a_script(
    wecom: CallbackSender,
    runtime: Runtime,
    seeded: Any,
    engine: Engine,
    customers_book: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.scripts import ranking

    monkeypatch.setattr(ranking, "EFFECT_TTL", 0.0)  # recount on every suggestion
    await wecom.send_text("wangfang", "张伟")
    await runtime.run_until_idle()
    reply = (await wecom.send_text("wangfang", "话术 生日")).reply or ""
    assert "展示 0 次，促成联系 0 次" in reply
    card = next(d for d in wecom.sandbox.inbox("wangfang") if d.msgtype == "template_card")
    from bot.followup import outcomes

    await wecom.click_button(
        "wangfang", card.task_id or "", outcomes.button_key("contacted", card.task_id or "")
    )
    await runtime.run_until_idle()
    again = (await wecom.send_text("wangfang", "话术 生日")).reply or ""
    assert "展示 1 次，促成联系 1 次" in again and "有效率 67%" in again
