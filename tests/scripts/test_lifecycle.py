"""Four eyes: drafts, submission, review, immutable approvals, expiry, audit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import FakeClock
from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge
from bot.scripts import service
from bot.scripts.models import ScriptVersion

CONTENT: dict[str, Any] = {
    "title": "大额转出关怀（新）",
    "mot": ["M46"],
    "stage": "挽留",
    "intent": "关怀",
    "segments": [],
    "risk_levels": ["C1", "C2", "C3", "C4", "C5"],
    "investor_types": ["ordinary", "professional"],
    "products": [],
    "disclosures": [],
    "body": "{{ customer.salutation }}您好，看到您有一笔资金转出，想了解是否需要我协助安排。",
}


@pytest.fixture
def env(engine: Engine, clock: FakeClock, knowledge: Knowledge, checker: Checker):  # type: ignore[no-untyped-def]
    with Session(engine, expire_on_commit=False) as session:
        yield session, {"clock": clock}, knowledge, checker
        session.rollback()


def _submitted(
    session: Session, kw: dict[str, Any], knowledge: Knowledge, checker: Checker
) -> ScriptVersion:
    row = service.create_draft(session, content=CONTENT, script_id="S-T-01", author="liqing", **kw)
    return service.submit(
        session, row=row, actor="liqing", knowledge=knowledge, checker=checker, **kw
    )


def test_the_author_cannot_approve_their_own_script(env) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    row = _submitted(session, kw, knowledge, checker)
    with pytest.raises(service.SelfApproval, match="四眼原则"):
        service.approve(session, row=row, reviewer="liqing", compliance_ref="HG-1", **kw)
    approved = service.approve(session, row=row, reviewer="zhoumin", compliance_ref="HG-1", **kw)
    assert approved.status == "approved" and approved.reviewer == "zhoumin"


def test_an_approved_version_is_immutable_and_an_edit_is_a_new_version(env) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    row = _submitted(session, kw, knowledge, checker)
    service.approve(session, row=row, reviewer="zhoumin", compliance_ref="HG-1", **kw)
    with pytest.raises(service.ImmutableVersion, match="不可修改"):
        service.edit(session, row=row, changes={"title": "改个标题"}, actor="liqing", **kw)
    v2 = service.create_draft(
        session, content={**CONTENT, "title": "改个标题"}, script_id="S-T-01", author="liqing", **kw
    )
    assert v2.version == 2 and v2.status == "draft"
    service.submit(session, row=v2, actor="liqing", knowledge=knowledge, checker=checker, **kw)
    service.approve(session, row=v2, reviewer="zhoumin", compliance_ref="HG-2", **kw)
    assert [v.status for v in service.versions(session, script_id="S-T-01")] == [
        "retired",
        "approved",
    ]
    assert row.title == CONTENT["title"]


def test_submission_fails_on_a_banned_phrase_or_a_missing_disclosure(env) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    banned = service.create_draft(
        session,
        content={**CONTENT, "body": "本产品保本，稳赚不赔，欢迎了解。"},
        script_id="S-T-02",
        author="liqing",
        **kw,
    )
    with pytest.raises(service.SubmissionBlocked) as info:
        service.submit(
            session, row=banned, actor="liqing", knowledge=knowledge, checker=checker, **kw
        )
    assert any("保本" in r for r in info.value.reasons)
    assert banned.status == "draft"
    product = service.create_draft(
        session,
        content={
            **CONTENT,
            "products": ["510300"],
            "risk_levels": ["C3", "C4", "C5"],
            "body": "沪深300ETF适合定投。",
        },
        script_id="S-T-03",
        author="liqing",
        **kw,
    )
    with pytest.raises(service.SubmissionBlocked) as info:
        service.submit(
            session, row=product, actor="liqing", knowledge=knowledge, checker=checker, **kw
        )
    assert any("fund_past_performance" in r for r in info.value.reasons)


def test_unknown_placeholders_block_submission(env) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    row = service.create_draft(
        session,
        content={**CONTENT, "body": "{{ customer.id_number }}您好"},
        script_id="S-T-04",
        author="liqing",
        **kw,
    )
    with pytest.raises(service.SubmissionBlocked, match="未知的占位符"):
        service.submit(session, row=row, actor="liqing", knowledge=knowledge, checker=checker, **kw)


def test_a_script_past_valid_until_stops_being_live(env, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    today = clock.now().date()
    row = service.create_draft(
        session,
        content={**CONTENT, "valid_until": today + timedelta(days=2)},
        script_id="S-T-05",
        author="liqing",
        **kw,
    )
    service.submit(session, row=row, actor="liqing", knowledge=knowledge, checker=checker, **kw)
    service.approve(session, row=row, reviewer="zhoumin", compliance_ref="HG-5", **kw)
    assert row in service.live(session, today=today + timedelta(days=2))
    assert row not in service.live(session, today=today + timedelta(days=3))


def test_every_transition_is_audited(env) -> None:  # type: ignore[no-untyped-def]
    session, kw, knowledge, checker = env
    row = _submitted(session, kw, knowledge, checker)
    service.reject(session, row=row, reviewer="zhoumin", comment="措辞再温和些", **kw)
    service.edit(session, row=row, changes={"title": "大额转出关怀（改）"}, actor="liqing", **kw)
    service.submit(session, row=row, actor="liqing", knowledge=knowledge, checker=checker, **kw)
    service.approve(session, row=row, reviewer="zhoumin", compliance_ref="HG-9", **kw)
    service.retire(session, row=row, actor="zhoumin", comment="活动结束", **kw)
    trail = [
        (a.action, a.from_status, a.to_status, a.actor)
        for a in service.audits(session, script_id="S-T-01")
    ]
    assert trail == [
        ("create", None, "draft", "liqing"),
        ("submit", "draft", "submitted", "liqing"),
        ("reject", "submitted", "rejected", "zhoumin"),
        ("edit", "rejected", "draft", "liqing"),
        ("submit", "draft", "submitted", "liqing"),
        ("approve", "submitted", "approved", "zhoumin"),
        ("retire", "approved", "retired", "zhoumin"),
    ]
    with pytest.raises(service.ScriptError, match="填写意见"):
        service.reject(
            session,
            row=_submitted(session, kw, knowledge, checker),
            reviewer="zhoumin",
            comment=" ",
            **kw,
        )


def test_the_seed_library_covers_every_mot_strategy_and_passes_lint(
    knowledge: Knowledge, checker: Checker
) -> None:
    from bot.scripts.library import lint, read_library
    from tests.conftest import LIBRARY

    scripts, problems = read_library(LIBRARY)
    assert problems == [] and lint(LIBRARY, knowledge, checker) == []
    assert len(scripts) >= 60
    covered = {mot for s in scripts for mot in s.record.mot}
    assert set(knowledge.strategies) <= covered
