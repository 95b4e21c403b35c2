"""The script lifecycle with four eyes, seeding from the library, and the delivery log.

draft → submitted → approved | rejected → retired. The reviewer must differ from the author;
approved versions are immutable (an edit starts a new version); submission fails on any
blocking lexicon finding or a missing disclosure; every transition is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from bot.clock import Clock
from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge
from bot.scripts.library import CONTENT_KEYS, ScriptRecord, lint_record
from bot.scripts.models import ScriptAudit, ScriptDelivery, ScriptVersion


class ScriptError(Exception):
    """A lifecycle rule refused the action; `str()` is the reason, in Chinese."""


class NotFound(ScriptError):
    pass


class SelfApproval(ScriptError):
    pass


class ImmutableVersion(ScriptError):
    pass


class SubmissionBlocked(ScriptError):
    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("提交被拒：" + "；".join(reasons))


class WrongStatus(ScriptError):
    pass


def get(session: Session, *, script_id: str, version: int) -> ScriptVersion | None:
    return session.exec(
        select(ScriptVersion).where(
            ScriptVersion.script_id == script_id, ScriptVersion.version == version
        )
    ).first()


def get_or_raise(session: Session, *, script_id: str, version: int) -> ScriptVersion:
    found = get(session, script_id=script_id, version=version)
    if found is None:
        raise NotFound(f"话术 {script_id} v{version} 不存在")
    return found


def versions(session: Session, *, script_id: str) -> list[ScriptVersion]:
    return list(
        session.exec(
            select(ScriptVersion)
            .where(ScriptVersion.script_id == script_id)
            .order_by(col(ScriptVersion.version))
        ).all()
    )


def _audit(
    session: Session,
    clock: Clock,
    row: ScriptVersion,
    action: str,
    before: str | None,
    actor: str,
    comment: str | None = None,
) -> None:
    session.add(
        ScriptAudit(
            script_id=row.script_id,
            version=row.version,
            action=action,
            from_status=before,
            to_status=row.status,
            actor=actor,
            comment=comment,
            at=clock.now(),
        )
    )


def _from_record(record: ScriptRecord, clock: Clock) -> ScriptVersion:
    return ScriptVersion(
        script_id=record.id,
        version=record.version,
        created_at=clock.now(),
        **{k: getattr(record, k) for k in CONTENT_KEYS},
        status=record.status,
        author=record.author,
        reviewer=record.reviewer,
        approved_on=record.approved_on,
        compliance_ref=record.compliance_ref,
    )


def create_draft(
    session: Session, *, clock: Clock, content: dict[str, Any], script_id: str, author: str
) -> ScriptVersion:
    """A new script, or a new version of an existing one, as a draft."""
    latest = session.exec(
        select(sa.func.max(ScriptVersion.version)).where(ScriptVersion.script_id == script_id)
    ).one()
    row = ScriptVersion(
        script_id=script_id,
        version=(latest or 0) + 1,
        status="draft",
        author=author,
        created_at=clock.now(),
        **content,
    )
    session.add(row)
    session.flush()
    _audit(session, clock, row, "create", None, author)
    return row


def edit(
    session: Session, *, clock: Clock, row: ScriptVersion, changes: dict[str, Any], actor: str
) -> ScriptVersion:
    """Change a draft or rejected version; an approved one is never changed (new version)."""
    if row.status in ("approved", "retired", "submitted"):
        raise ImmutableVersion(
            f"{row.script_id} v{row.version} 已{_label(row.status)}，不可修改；请创建新版本"
        )
    for key, value in changes.items():
        if key not in CONTENT_KEYS:
            raise ScriptError(f"字段 {key} 不可修改")
        setattr(row, key, value)
    before = row.status
    row.status = "draft"
    session.add(row)
    _audit(session, clock, row, "edit", before, actor)
    return row


def submit(
    session: Session,
    *,
    clock: Clock,
    row: ScriptVersion,
    actor: str,
    knowledge: Knowledge,
    checker: Checker,
) -> ScriptVersion:
    """Send a draft for review; any blocking finding or missing disclosure refuses it."""
    if row.status not in ("draft", "rejected"):
        raise WrongStatus(f"只有草稿或被驳回的版本可以提交，当前为「{_label(row.status)}」")
    record = ScriptRecord(id=row.script_id, version=row.version, author=row.author, **row.content())
    reasons = lint_record(record, knowledge, checker)
    if reasons:
        raise SubmissionBlocked(reasons)
    before, row.status = row.status, "submitted"
    session.add(row)
    _audit(session, clock, row, "submit", before, actor)
    return row


def approve(
    session: Session,
    *,
    clock: Clock,
    row: ScriptVersion,
    reviewer: str,
    compliance_ref: str,
    comment: str | None = None,
) -> ScriptVersion:
    """Approve a submitted version (not by its author); older approved versions retire."""
    if row.status != "submitted":
        raise WrongStatus(f"只有已提交的版本可以审核，当前为「{_label(row.status)}」")
    if reviewer == row.author:
        raise SelfApproval("审核人不能是作者本人（四眼原则）")
    if not compliance_ref:
        raise ScriptError("请填写合规审核编号")
    for older in versions(session, script_id=row.script_id):
        if older.status == "approved" and older.version != row.version:
            older.status = "retired"
            session.add(older)
            _audit(session, clock, older, "retire", "approved", reviewer, f"由 v{row.version} 取代")
    row.status, row.reviewer, row.compliance_ref = "approved", reviewer, compliance_ref
    row.approved_on = clock.now().date()
    row.valid_from = row.valid_from or row.approved_on
    session.add(row)
    _audit(session, clock, row, "approve", "submitted", reviewer, comment)
    return row


def reject(
    session: Session, *, clock: Clock, row: ScriptVersion, reviewer: str, comment: str
) -> ScriptVersion:
    if row.status != "submitted":
        raise WrongStatus(f"只有已提交的版本可以驳回，当前为「{_label(row.status)}」")
    if reviewer == row.author:
        raise SelfApproval("审核人不能是作者本人（四眼原则）")
    if not comment.strip():
        raise ScriptError("驳回时请填写意见")
    row.status = "rejected"
    session.add(row)
    _audit(session, clock, row, "reject", "submitted", reviewer, comment)
    return row


def retire(
    session: Session, *, clock: Clock, row: ScriptVersion, actor: str, comment: str | None = None
) -> ScriptVersion:
    if row.status != "approved":
        raise WrongStatus(f"只有已批准的版本可以下线，当前为「{_label(row.status)}」")
    row.status = "retired"
    session.add(row)
    _audit(session, clock, row, "retire", "approved", actor, comment)
    return row


def live(session: Session, *, today: date) -> list[ScriptVersion]:
    """Approved versions valid today: the only ones that may reach an advisor."""
    return list(
        session.exec(
            select(ScriptVersion).where(
                ScriptVersion.status == "approved",
                sa.or_(
                    col(ScriptVersion.valid_from).is_(None), col(ScriptVersion.valid_from) <= today
                ),
                sa.or_(
                    col(ScriptVersion.valid_until).is_(None),
                    col(ScriptVersion.valid_until) >= today,
                ),
            )
        ).all()
    )


def upsert_record(
    session: Session, *, clock: Clock, record: ScriptRecord, action: str, actor: str
) -> str:
    """Load one written record (seed file or Excel row): inserted|unchanged; never alters an
    approved version (raises ImmutableVersion if the record differs from it)."""
    existing = get(session, script_id=record.id, version=record.version)
    if existing is None:
        row = _from_record(record, clock)
        session.add(row)
        session.flush()
        _audit(session, clock, row, action, None, actor)
        return "inserted"
    incoming = {k: getattr(record, k) for k in CONTENT_KEYS}
    if incoming == existing.content():
        return "unchanged"
    if existing.status in ("approved", "retired", "submitted"):
        raise ImmutableVersion(
            f"{record.id} v{record.version} 已{_label(existing.status)}，"
            "内容不可修改；请以新版本号提交"
        )
    edit(session, clock=clock, row=existing, changes=incoming, actor=actor)
    return "updated"


def log_delivery(
    session: Session,
    *,
    clock: Clock,
    row: ScriptVersion,
    advisor_userid: str,
    customer_no: str | None,
    channel: str,
    action: str,
) -> None:
    session.add(
        ScriptDelivery(
            script_id=row.script_id,
            version=row.version,
            advisor_userid=advisor_userid,
            customer_no=customer_no,
            channel=channel,
            action=action,
            at=clock.now(),
        )
    )


def deliveries(session: Session, *, limit: int = 500) -> list[ScriptDelivery]:
    return list(
        session.exec(
            select(ScriptDelivery).order_by(col(ScriptDelivery.id).desc()).limit(limit)
        ).all()
    )


def audits(session: Session, *, script_id: str) -> list[ScriptAudit]:
    return list(
        session.exec(
            select(ScriptAudit)
            .where(ScriptAudit.script_id == script_id)
            .order_by(col(ScriptAudit.id))
        ).all()
    )


def review_queue(session: Session) -> list[ScriptVersion]:
    return list(
        session.exec(
            select(ScriptVersion)
            .where(ScriptVersion.status == "submitted")
            .order_by(col(ScriptVersion.id))
        ).all()
    )


ACTION_LABELS = {
    "create": "创建",
    "seed": "随版本发布",
    "import": "Excel 导入",
    "edit": "修改",
    "submit": "提交审核",
    "approve": "批准",
    "reject": "驳回",
    "retire": "下线",
}
STATUS_LABELS = {
    "draft": "草稿",
    "submitted": "待审核",
    "approved": "已批准",
    "rejected": "已驳回",
    "retired": "已下线",
}


def _label(status: str) -> str:
    return STATUS_LABELS.get(status, status)
