"""`/sidebar`: the H5 page WeCom opens beside a customer chat.

Production: WeCom's OAuth tells the server who the advisor is (`/auth/getuserinfo`), a signed
cookie keeps it for the session, the page signs the JS-SDK `agentConfig` with the app ticket
and asks `getCurExternalContact` for the customer in the open chat, then shows that
customer's card if this advisor may see it. With `BOT_SIDEBAR_DEV_LOGIN=true` (the sandbox
and the demo), `?dev_user=...&external_userid=...` stands in for OAuth and the SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session

from bot.customers import card, service
from bot.wecom.errors import WeComError

if TYPE_CHECKING:
    from bot.app import Runtime

router = APIRouter(include_in_schema=False)
COOKIE = "advisor_session"
SESSION_SECONDS = 8 * 3600
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def _key(runtime: Runtime) -> bytes:
    secret = runtime.settings.wecom_secret
    assert secret is not None
    return hashlib.sha256(b"sidebar-session:" + secret.get_secret_value().encode()).digest()


def _sign(runtime: Runtime, userid: str, expires: int) -> str:
    body = f"{base64.urlsafe_b64encode(userid.encode()).decode()}.{expires}"
    mac = hmac.new(_key(runtime), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _session_user(request: Request) -> str | None:
    runtime: Runtime = request.app.state.runtime
    raw = request.cookies.get(COOKIE, "")
    try:
        user_b64, expires, mac = raw.split(".")
        body = f"{user_b64}.{expires}"
        good = hmac.new(_key(runtime), body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, good) or int(expires) < time.time():
            return None
        return base64.urlsafe_b64decode(user_b64).decode()
    except ValueError:
        return None


def _require_user(request: Request) -> str:
    userid = _session_user(request)
    if userid is None:
        raise HTTPException(401, "登录已失效，请从企业微信聊天工具栏重新打开")
    return userid


def _login(response: Response, request: Request, userid: str) -> None:
    expires = int(time.time()) + SESSION_SECONDS
    response.set_cookie(
        COOKIE,
        _sign(request.app.state.runtime, userid, expires),
        max_age=SESSION_SECONDS,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="none" if request.url.scheme == "https" else "lax",
    )


def _oauth_url(runtime: Runtime, redirect: str) -> str:
    s = runtime.settings
    return (
        "https://open.weixin.qq.com/connect/oauth2/authorize"
        f"?appid={s.wecom_corp_id}&redirect_uri={quote(redirect, safe='')}"
        f"&response_type=code&scope=snsapi_base&agentid={s.wecom_agent_id}#wechat_redirect"
    )


@router.get("/sidebar", response_class=HTMLResponse)
async def sidebar(
    request: Request,
    code: str | None = None,
    dev_user: str | None = None,
    external_userid: str | None = None,
) -> Response:
    runtime: Runtime = request.app.state.runtime
    dev = runtime.settings.bot_sidebar_dev_login
    page = _templates.get_template("sidebar.html")
    if dev_user is not None:
        if not dev:
            return HTMLResponse(page.render(error="开发登录未启用"), status_code=403)
        response: Response = HTMLResponse(
            page.render(
                corp_id=runtime.settings.wecom_corp_id,
                agent_id=runtime.settings.wecom_agent_id,
                dev_external_userid=external_userid or "",
            )
        )
        _login(response, request, dev_user)
        return response
    if code is not None:
        try:
            userid = await runtime.client.get_userid_by_code(code)
        except WeComError:
            userid = None
        if userid is None:
            return HTMLResponse(
                page.render(error="企业微信身份校验失败，请重新打开"), status_code=403
            )
        response = RedirectResponse(str(request.url.remove_query_params("code")), 303)
        _login(response, request, userid)
        return response
    if _session_user(request) is None:
        return RedirectResponse(_oauth_url(runtime, str(request.url)), 303)
    return HTMLResponse(
        page.render(
            corp_id=runtime.settings.wecom_corp_id,
            agent_id=runtime.settings.wecom_agent_id,
            dev_external_userid="",
        )
    )


@router.get("/sidebar/api/signature")
async def signature(request: Request, url: str) -> JSONResponse:
    """`agentConfig` parameters for the page at `url` (signed with the app's JS-SDK ticket)."""
    _require_user(request)
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
        view = card.build_view(
            session, clock=runtime.clock, customer=customer, tz=runtime.settings.timezone
        )
        return 200, card.html(view)


@router.get("/sidebar/api/card")
def customer_card(request: Request, external_userid: str) -> Response:
    """The card of the customer in the open chat, as an HTML fragment; every view is logged."""
    userid = _require_user(request)
    status, body = _card(request.app.state.runtime, userid, external_userid)
    if status != 200:
        raise HTTPException(status, body)
    return HTMLResponse(body)
