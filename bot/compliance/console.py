"""`/compliance/`: the compliance console. Review queue, version diff, approve or reject with a
comment, the lexicon, and the log of which script version went to which customer (with an
Excel export). Only staff whose role is `compliance` may use it; forms carry a CSRF token.
"""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from sqlmodel import Session

from bot import webauth
from bot.customers import service as customers
from bot.db import read_only, session_scope
from bot.scripts import service as scripts
from bot.scripts.library import ScriptRecord, lint_record

if TYPE_CHECKING:
    from bot.app import Runtime

router = APIRouter(prefix="/compliance", include_in_schema=False)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _page(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(
        user=webauth.session_user(request),
        csrf=webauth.csrf_token(request),
        labels=scripts.STATUS_LABELS,
        actions=scripts.ACTION_LABELS,
        tz=request.app.state.runtime.settings.timezone,
        **context,
    )
    return HTMLResponse(html, status_code=status)


def _officer(request: Request) -> str:
    """The signed-in compliance officer, or 401/403."""
    userid = webauth.require_user(request)
    runtime: Runtime = request.app.state.runtime
    with Session(read_only(runtime.engine)) as session:
        staff = customers.get_advisor(session, userid=userid)
    if staff is None or staff.role != "compliance":
        raise HTTPException(403, "仅合规人员可以使用合规控制台")
    return userid


@router.get("/", response_class=HTMLResponse)
async def queue(request: Request, code: str | None = None, dev_user: str | None = None) -> Response:
    runtime: Runtime = request.app.state.runtime
    signed = await webauth.sign_in(request, code=code, dev_user=dev_user)
    if isinstance(signed, Response):
        return signed
    if signed is None:
        return RedirectResponse(webauth.oauth_url(runtime, str(request.url)), 303)
    if dev_user is not None:
        response = RedirectResponse("/compliance/", 303)
        webauth.login(response, request, dev_user)
        return response
    _officer(request)
    with Session(read_only(runtime.engine)) as session:
        waiting = scripts.review_queue(session)
        live = scripts.live(session, today=runtime.clock.now().date())
    return _page("queue.html", request, waiting=waiting, live_count=len(live))


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    """(kind, text) pieces: kind is same|add|del."""
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out.append(("same", old[a1:a2]))
        if op in ("delete", "replace"):
            out.append(("del", old[a1:a2]))
        if op in ("insert", "replace"):
            out.append(("add", new[b1:b2]))
    return out


def _detail(
    request: Request,
    script_id: str,
    version: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    with Session(read_only(runtime.engine)) as session:
        row = scripts.get(session, script_id=script_id, version=version)
        if row is None:
            raise HTTPException(404, f"话术 {script_id} v{version} 不存在")
        history = scripts.versions(session, script_id=script_id)
        trail = scripts.audits(session, script_id=script_id)
    previous = next((v for v in reversed(history) if v.version < version), None)
    record = ScriptRecord(id=row.script_id, version=row.version, author=row.author, **row.content())
    problems = lint_record(record, runtime.catalog.knowledge, runtime.checker)
    fields = [
        (k, getattr(previous, k) if previous else None, getattr(row, k))
        for k in (
            "title",
            "risk_levels",
            "investor_types",
            "products",
            "disclosures",
            "valid_until",
        )
        if not previous or getattr(previous, k) != getattr(row, k)
    ]
    return _page(
        "detail.html",
        request,
        status=status,
        row=row,
        previous=previous,
        diff=_diff(previous.body if previous else "", row.body),
        fields=fields,
        problems=problems,
        trail=trail,
        error=error,
        notice=notice,
    )


@router.get("/scripts/{script_id}/{version}", response_class=HTMLResponse)
def detail(request: Request, script_id: str, version: int) -> HTMLResponse:
    _officer(request)
    return _detail(request, script_id, version)


def _decide(request: Request, script_id: str, version: int, csrf: str, act: Any) -> HTMLResponse:
    officer = _officer(request)
    webauth.check_csrf(request, csrf)
    runtime: Runtime = request.app.state.runtime
    try:
        with session_scope(runtime.engine) as session:
            row = scripts.get_or_raise(session, script_id=script_id, version=version)
            notice = act(session, row, officer)
    except scripts.ScriptError as exc:
        return _detail(request, script_id, version, error=str(exc), status=409)
    return _detail(request, script_id, version, notice=notice)


@router.post("/scripts/{script_id}/{version}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    script_id: str,
    version: int,
    csrf: str = Form(""),
    compliance_ref: str = Form(""),
    comment: str = Form(""),
) -> HTMLResponse:
    def act(session: Session, row: Any, officer: str) -> str:
        runtime: Runtime = request.app.state.runtime
        scripts.approve(
            session,
            clock=runtime.clock,
            row=row,
            reviewer=officer,
            compliance_ref=compliance_ref.strip(),
            comment=comment.strip() or None,
        )
        return f"已批准 {script_id} v{version}"

    return _decide(request, script_id, version, csrf, act)


@router.post("/scripts/{script_id}/{version}/reject", response_class=HTMLResponse)
def reject(
    request: Request, script_id: str, version: int, csrf: str = Form(""), comment: str = Form("")
) -> HTMLResponse:
    def act(session: Session, row: Any, officer: str) -> str:
        runtime: Runtime = request.app.state.runtime
        scripts.reject(session, clock=runtime.clock, row=row, reviewer=officer, comment=comment)
        return f"已驳回 {script_id} v{version}"

    return _decide(request, script_id, version, csrf, act)


@router.get("/lexicon", response_class=HTMLResponse)
def lexicon(request: Request) -> HTMLResponse:
    _officer(request)
    return _page(
        "lexicon.html", request, entries=request.app.state.runtime.catalog.knowledge.lexicon
    )


@router.get("/deliveries", response_class=HTMLResponse)
def deliveries(request: Request) -> HTMLResponse:
    _officer(request)
    runtime: Runtime = request.app.state.runtime
    with Session(read_only(runtime.engine)) as session:
        rows = scripts.deliveries(session)
    return _page("deliveries.html", request, rows=rows)


@router.get("/deliveries.xlsx")
def deliveries_xlsx(request: Request) -> StreamingResponse:
    """The delivery log as Excel: every shown or sent script version, newest first."""
    _officer(request)
    runtime: Runtime = request.app.state.runtime
    with Session(read_only(runtime.engine)) as session:
        rows = scripts.deliveries(session, limit=1_000_000)
    book = Workbook()
    sheet = book.active
    sheet.title = "话术使用记录"
    sheet.append(["时间", "话术编号", "版本", "顾问", "客户号", "渠道", "动作"])
    tz = runtime.settings.timezone
    for r in rows:
        sheet.append(
            [
                r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                r.script_id,
                r.version,
                r.advisor_userid,
                r.customer_no or "",
                r.channel,
                r.action,
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return StreamingResponse(
        buffer,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename=script-deliveries.xlsx"},
    )
