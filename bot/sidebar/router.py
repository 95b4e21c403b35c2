"""`/sidebar`: the H5 page WeCom opens beside a customer chat.

Production: WeCom's OAuth tells the server who the advisor is (`/auth/getuserinfo`), a signed
cookie keeps it for the session, the page signs the JS-SDK `agentConfig` with the app ticket
and asks `getCurExternalContact` for the customer in the open chat, then shows that
customer's card if this advisor may see it. With `BOT_SIDEBAR_DEV_LOGIN=true` (the sandbox
and the demo), `?dev_user=...&external_userid=...` stands in for OAuth and the SDK.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel
from sqlmodel import Session

from bot import webauth
from bot.customers import card, service
from bot.db import session_scope
from bot.scripts import service as scripts
from bot.scripts.context import audience_for

if TYPE_CHECKING:
    from bot.app import Runtime

router = APIRouter(include_in_schema=False)
COOKIE = "advisor_session"
SESSION_SECONDS = 8 * 3600
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@router.get("/sidebar", response_class=HTMLResponse)
async def sidebar(
    request: Request,
    code: str | None = None,
    dev_user: str | None = None,
    external_userid: str | None = None,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    page = _templates.get_template("sidebar.html")
    try:
        signed = await webauth.sign_in(request, code=code, dev_user=dev_user)
    except HTTPException as exc:
        return HTMLResponse(page.render(error=exc.detail), status_code=exc.status_code)
    if isinstance(signed, Response):
        return signed
    if signed is None:
        return RedirectResponse(webauth.oauth_url(runtime, str(request.url)), 303)
    response: Response = HTMLResponse(
        page.render(
            corp_id=runtime.settings.wecom_corp_id,
            agent_id=runtime.settings.wecom_agent_id,
            dev_external_userid=(external_userid or "") if dev_user else "",
        )
    )
    if dev_user is not None:
        webauth.login(response, request, dev_user)
    return response


@router.get("/sidebar/api/signature")
async def signature(request: Request, url: str) -> JSONResponse:
    """`agentConfig` parameters for the page at `url` (signed with the app's JS-SDK ticket)."""
    webauth.require_user(request)
    runtime: Runtime = request.app.state.runtime
    cached: tuple[str, float] | None = getattr(request.app.state, "agent_ticket", None)
    if cached is None or cached[1] < time.time():
        ticket, ttl = await runtime.client.get_agent_ticket()
        cached = (ticket, time.time() + ttl - 300)
        request.app.state.agent_ticket = cached
    nonce, ts = secrets.token_hex(8), str(int(time.time()))
    plain = f"jsapi_ticket={cached[0]}&noncestr={nonce}&timestamp={ts}&url={url.split('#')[0]}"
    return JSONResponse(
        {
            "corpid": runtime.settings.wecom_corp_id,
            "agentid": runtime.settings.wecom_agent_id,
            "timestamp": ts,
            "nonceStr": nonce,
            "signature": hashlib.sha1(plain.encode()).hexdigest(),
        }
    )


def _card(runtime: Runtime, userid: str, external_userid: str) -> tuple[int, str]:
    with Session(runtime.engine, expire_on_commit=False) as session:
        customer = service.get_by_external(session, external_userid=external_userid)
        if customer is None:
            service.log_access(
                session,
                clock=runtime.clock,
                actor=userid,
                action="sidebar_view",
                channel="sidebar",
                query=external_userid,
                decision=service.Decision(False, "未绑定客户档案"),
            )
            session.commit()
            return 404, "该企业微信客户尚未绑定客户档案：请在应用消息中回复「绑定」完成绑定"
        decision = service.authorize_view(
            session,
            clock=runtime.clock,
            userid=userid,
            customer=customer,
            action="sidebar_view",
            channel="sidebar",
        )
        session.commit()
        if not decision.allowed:
            return 403, decision.reason or ""
        tz = runtime.settings.timezone
        view = card.build_view(session, clock=runtime.clock, customer=customer, tz=tz)
        audience = audience_for(
            session, clock=runtime.clock, customer=customer, advisor_userid=userid, tz=tz
        )
        ranked = runtime.catalog.suggest(
            audience=audience,
            today=runtime.clock.now().astimezone(tz).date(),
            mot=view.mot_hint,
            k=3,
        )
        for s in ranked.suggestions:
            scripts.log_delivery(
                session,
                clock=runtime.clock,
                row=s.row,
                advisor_userid=userid,
                customer_no=customer.customer_no,
                channel="sidebar",
                action="shown",
            )
        session.commit()
        fragment = _templates.get_template("scripts.html").render(
            suggestions=ranked.suggestions, external_userid=external_userid
        )
        return 200, card.html(view) + fragment


@router.get("/sidebar/api/card")
def customer_card(request: Request, external_userid: str) -> Response:
    """The card of the customer in the open chat, as an HTML fragment; every view is logged."""
    userid = webauth.require_user(request)
    status, body = _card(request.app.state.runtime, userid, external_userid)
    if status != 200:
        raise HTTPException(status, body)
    return HTMLResponse(body)


class ScriptSent(BaseModel):
    script_id: str
    version: int
    external_userid: str


@router.post("/sidebar/api/script-sent")
def script_sent(request: Request, body: ScriptSent) -> dict[str, str]:
    """The advisor put a script into the chat (`sendChatMessage`): log that version as sent."""
    userid = webauth.require_user(request)
    runtime: Runtime = request.app.state.runtime
    with session_scope(runtime.engine) as session:
        customer = service.get_by_external(session, external_userid=body.external_userid)
        if (
            customer is None
            or not service.may_view(session, userid=userid, customer=customer).allowed
        ):
            raise HTTPException(403, service.NOT_YOURS)
        row = scripts.get(session, script_id=body.script_id, version=body.version)
        if row is None or row.status != "approved":
            raise HTTPException(409, "该话术版本未获批准或已下线，不能发送")
        scripts.log_delivery(
            session,
            clock=runtime.clock,
            row=row,
            advisor_userid=userid,
            customer_no=customer.customer_no,
            channel="sidebar",
            action="sent",
        )
    return {"status": "logged"}
