"""Who is using a web page: WeCom OAuth, a signed session cookie, and CSRF tokens for forms.

Shared by the sidebar and the compliance console. The cookie holds the WeCom userid and an
expiry, signed with a key derived from WECOM_SECRET; it is HTTP-only and, over HTTPS,
`Secure; SameSite=None` (the WeCom webview embeds the page). With BOT_SIDEBAR_DEV_LOGIN, a
`dev_user` parameter stands in for OAuth (sandbox and demo only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.wecom.errors import WeComError

COOKIE = "advisor_session"
SESSION_SECONDS = 8 * 3600


def _key(runtime: Any, purpose: bytes) -> bytes:
    secret = runtime.settings.wecom_secret
    assert secret is not None
    return hashlib.sha256(purpose + b":" + secret.get_secret_value().encode()).digest()


def _mac(runtime: Any, purpose: bytes, body: str) -> str:
    return hmac.new(_key(runtime, purpose), body.encode(), hashlib.sha256).hexdigest()


def session_user(request: Request) -> str | None:
    """The userid of a valid session cookie, else None."""
    runtime = request.app.state.runtime
    raw = request.cookies.get(COOKIE, "")
    try:
        user_b64, expires, mac = raw.split(".")
        body = f"{user_b64}.{expires}"
        if not hmac.compare_digest(mac, _mac(runtime, b"session", body)):
            return None
        if int(expires) < time.time():
            return None
        return base64.urlsafe_b64decode(user_b64).decode()
    except ValueError:
        return None


def require_user(request: Request) -> str:
    userid = session_user(request)
    if userid is None:
        raise HTTPException(401, "登录已失效，请从企业微信重新打开")
    return userid


def login(response: Response, request: Request, userid: str) -> None:
    expires = int(time.time()) + SESSION_SECONDS
    body = f"{base64.urlsafe_b64encode(userid.encode()).decode()}.{expires}"
    https = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        f"{body}.{_mac(request.app.state.runtime, b'session', body)}",
        max_age=SESSION_SECONDS,
        httponly=True,
        secure=https,
        samesite="none" if https else "lax",
    )


def oauth_url(runtime: Any, redirect: str) -> str:
    s = runtime.settings
    return (
        "https://open.weixin.qq.com/connect/oauth2/authorize"
        f"?appid={s.wecom_corp_id}&redirect_uri={quote(redirect, safe='')}"
        f"&response_type=code&scope=snsapi_base&agentid={s.wecom_agent_id}#wechat_redirect"
    )


async def sign_in(
    request: Request, *, code: str | None, dev_user: str | None
) -> Response | str | None:
    """The OAuth or dev-login step of a page view.

    Returns a Response to send as is (a redirect that sets the cookie, or a refusal), the
    userid to render the page for, or None when a plain page view has no session.
    """
    runtime = request.app.state.runtime
    if dev_user is not None:
        if not runtime.settings.bot_sidebar_dev_login:
            raise HTTPException(403, "开发登录未启用")
        return dev_user
    if code is not None:
        try:
            userid = await runtime.client.get_userid_by_code(code)
        except WeComError:
            userid = None
        if userid is None:
            raise HTTPException(403, "企业微信身份校验失败，请重新打开")
        response = RedirectResponse(str(request.url.remove_query_params("code")), 303)
        login(response, request, userid)
        return response
    return session_user(request)


def csrf_token(request: Request) -> str:
    """A token bound to this session, for the forms of a page."""
    return _mac(request.app.state.runtime, b"csrf", request.cookies.get(COOKIE, ""))[:32]


def check_csrf(request: Request, token: str) -> None:
    if not hmac.compare_digest(token.encode(), csrf_token(request).encode()):
        raise HTTPException(403, "表单已过期，请刷新页面后重试")
