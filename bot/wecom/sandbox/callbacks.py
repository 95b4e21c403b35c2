"""WeCom's side of the callback: encrypt, sign and post pushes to the bot."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx

from bot.wecom.crypto import CallbackCrypto
from bot.wecom.inbound import parse_xml
from bot.wecom.sandbox.state import Sandbox


@dataclass(frozen=True)
class CallbackResult:
    status_code: int
    body: str
    reply: str | None  # the decrypted passive reply's Content, if the bot answered in-line


def _xml(fields: dict[str, str | int]) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            safe = value.replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{safe}]]></{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


class CallbackSender:
    """Posts encrypted callbacks to the bot at `url` (an httpx client: real HTTP or ASGI)."""

    def __init__(self, sandbox: Sandbox, http: httpx.AsyncClient, url: str):
        self.sandbox = sandbox
        self.http = http
        self.url = url
        self.crypto = CallbackCrypto(
            token=sandbox.token, encoding_aes_key=sandbox.encoding_aes_key, corp_id=sandbox.corp_id
        )

    def _now(self) -> int:
        return int(self.sandbox.clock.now().timestamp())

    def envelope(
        self, plaintext: str, *, timestamp: int | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], str]:
        """(query params, body) for one encrypted push, exactly as WeCom sends it."""
        ts, nonce = str(timestamp or self._now()), nonce or secrets.token_hex(5)
        encrypt, sig = self.crypto.encrypt_reply(plaintext, nonce=nonce, timestamp=ts)
        body = (
            f"<xml><ToUserName><![CDATA[{self.sandbox.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{self.sandbox.agent_id}]]></AgentID></xml>"
        )
        return {"msg_signature": sig, "timestamp": ts, "nonce": nonce}, body

    async def post(self, plaintext: str) -> CallbackResult:
        params, body = self.envelope(plaintext)
        resp = await self.http.post(self.url, params=params, content=body.encode())
        return CallbackResult(resp.status_code, resp.text, self._reply(resp))

    def _reply(self, resp: httpx.Response) -> str | None:
        if resp.status_code != 200 or not resp.text.strip():
            return None
        outer = parse_xml(resp.text)
        self.crypto.check_signature(
            outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"], outer["Encrypt"]
        )
        inner = parse_xml(self.crypto.decrypt(outer["Encrypt"]))
        return str(inner.get("Content", ""))

    async def verify_url(self) -> httpx.Response:
        echo_plain = str(secrets.randbelow(10**19))
        ts, nonce = str(self._now()), secrets.token_hex(5)
        echostr, sig = self.crypto.encrypt_reply(echo_plain, nonce=nonce, timestamp=ts)
        return await self.http.get(
            self.url,
            params={"msg_signature": sig, "timestamp": ts, "nonce": nonce, "echostr": echostr},
        )

    # -- what members and customers do --------------------------------------------------
    def text_xml(self, userid: str, content: str, msgid: int | None = None) -> str:
        return _xml(
            {
                "ToUserName": self.sandbox.corp_id,
                "FromUserName": userid,
                "CreateTime": self._now(),
                "MsgType": "text",
                "Content": content,
                "MsgId": msgid or secrets.randbelow(2**63),
                "AgentID": self.sandbox.agent_id,
            }
        )

    async def send_text(self, userid: str, content: str) -> CallbackResult:
        """The member types `content` into the app's chat."""
        return await self.post(self.text_xml(userid, content))

    def click_xml(self, userid: str, task_id: str, key: str) -> str:
        return _xml(
            {
                "ToUserName": self.sandbox.corp_id,
                "FromUserName": userid,
                "CreateTime": self._now(),
                "MsgType": "event",
                "Event": "template_card_event",
                "EventKey": key,
                "TaskId": task_id,
                "CardType": "button_interaction",
                "ResponseCode": self.sandbox.issue_click_code(userid, task_id),
                "AgentID": self.sandbox.agent_id,
            }
        )

    async def click_button(self, userid: str, task_id: str, key: str) -> CallbackResult:
        """The member taps the button `key` on the card `task_id`."""
        return await self.post(self.click_xml(userid, task_id, key))

    def contact_event_xml(
        self, change_type: str, userid: str, external_userid: str, **extra: str
    ) -> str:
        fields: dict[str, str | int] = {
            "ToUserName": self.sandbox.corp_id,
            "FromUserName": "sys",
            "CreateTime": self._now(),
            "MsgType": "event",
            "Event": "change_external_contact",
            "ChangeType": change_type,
            "UserID": userid,
            "ExternalUserID": external_userid,
        }
        fields.update(extra)
        return _xml(fields)

    async def add_external_contact(
        self, userid: str, external_userid: str, *, state: str = "", welcome_code: str | None = None
    ) -> CallbackResult:
        """A customer adds the member (e.g. by scanning a contact-me QR code with `state`)."""
        extra = {"WelcomeCode": welcome_code or secrets.token_hex(8)}
        if state:
            extra["State"] = state
        return await self.post(
            self.contact_event_xml("add_external_contact", userid, external_userid, **extra)
        )
