"""The sandbox over HTTP: WeCom's API paths under /cgi-bin, and each member's inbox as a page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.wecom.sandbox.callbacks import CallbackResult, CallbackSender
from bot.wecom.sandbox.state import Sandbox, err

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def create_sandbox_app(sandbox: Sandbox, *, callback_url: str | None = None) -> FastAPI:
    """The sandbox's HTTP face. With `callback_url`, `POST /api/callback/{kind}` also plays
    WeCom's side: it encrypts a push and posts it to the bot at that URL."""
    app = FastAPI(title="WeCom sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = sandbox
    if callback_url:
        _add_callback_routes(app, sandbox, callback_url)

    @app.get("/cgi-bin/gettoken")
    def gettoken(corpid: str | None = None, corpsecret: str | None = None) -> JSONResponse:
        return JSONResponse(sandbox.gettoken(corpid, corpsecret))

    @app.post("/cgi-bin/message/send")
    async def send(request: Request) -> JSONResponse:
        payload = await _json(request)
        token = request.query_params.get("access_token")
        if payload is None:
            return JSONResponse(err(47001, "data format error"))
        return JSONResponse(sandbox.send(token, payload))

    @app.post("/cgi-bin/message/update_template_card")
    async def update_card(request: Request) -> JSONResponse:
        payload = await _json(request)
        token = request.query_params.get("access_token")
        if payload is None:
            return JSONResponse(err(47001, "data format error"))
        return JSONResponse(sandbox.update_template_card(token, payload))

    @app.get("/cgi-bin/externalcontact/get")
    def external_contact(
        access_token: str | None = None,
        external_userid: str | None = None,
        cursor: str | None = None,
    ) -> JSONResponse:
        return JSONResponse(sandbox.get_external_contact(access_token, external_userid, cursor))

    @app.get("/cgi-bin/ticket/get")
    def ticket(access_token: str | None = None, type: str | None = None) -> JSONResponse:
        return JSONResponse(sandbox.get_ticket(access_token, type))

    @app.get("/cgi-bin/auth/getuserinfo")
    def user_info(access_token: str | None = None, code: str | None = None) -> JSONResponse:
        return JSONResponse(sandbox.get_user_info(access_token, code))

    @app.get("/api/inbox/{userid}")
    def inbox_json(userid: str) -> JSONResponse:
        return JSONResponse(
            [
                {
                    "msgid": d.msgid,
                    "msgtype": d.msgtype,
                    "body": d.body,
                    "at": d.at.isoformat(),
                    "button_label": d.button_label,
                }
                for d in sandbox.inbox(userid)
            ]
        )

    @app.get("/", response_class=HTMLResponse)
    def inbox_page() -> HTMLResponse:
        members = [
            {"userid": uid, "name": name, "messages": sandbox.inbox(uid)}
            for uid, name in sandbox.members.items()
        ]
        html = _templates.get_template("inbox.html").render(
            members=members, dropped=len(sandbox.dropped), corp_id=sandbox.corp_id
        )
        return HTMLResponse(html)

    return app


def _add_callback_routes(app: FastAPI, sandbox: Sandbox, callback_url: str) -> None:
    sender = CallbackSender(sandbox, httpx.AsyncClient(timeout=10), callback_url)

    async def report(result: CallbackResult) -> JSONResponse:
        return JSONResponse(
            {
                "bot_status": result.status_code,
                "reply": result.reply,
                "body": None if result.reply else result.body,
            }
        )

    @app.post("/api/callback/text")
    async def text(request: Request) -> JSONResponse:
        """`{"userid": "...", "content": "..."}`: the member types into the app's chat."""
        data = await _json(request) or {}
        return await report(
            await sender.send_text(str(data.get("userid")), str(data.get("content", "")))
        )

    @app.post("/api/callback/click")
    async def click(request: Request) -> JSONResponse:
        """`{"userid", "task_id", "key"}`: the member taps a card button."""
        data = await _json(request) or {}
        return await report(
            await sender.click_button(
                str(data.get("userid")), str(data.get("task_id")), str(data.get("key"))
            )
        )

    @app.post("/api/callback/add_contact")
    async def add_contact(request: Request) -> JSONResponse:
        """`{"userid", "external_userid", "state"?}`: a customer adds the member."""
        data = await _json(request) or {}
        return await report(
            await sender.add_external_contact(
                str(data.get("userid")),
                str(data.get("external_userid")),
                state=str(data.get("state") or ""),
            )
        )
