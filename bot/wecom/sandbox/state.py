"""The sandbox's state and WeCom's rules over it."""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock, SystemClock
from bot.wecom import cards

RESPONSE_CODE_TTL = timedelta(hours=72)
_TASK_ID = re.compile(r"^[A-Za-z0-9_\-@]{1,128}$")


def ok(**extra: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **extra}


def err(errcode: int, errmsg: str) -> dict[str, Any]:
    return {"errcode": errcode, "errmsg": f"{errmsg}, hint: [sandbox]"}


@dataclass
class Delivered:
    """One message as a member's WeCom client would show it."""

    msgid: str
    touser: str
    msgtype: str
    body: dict[str, Any]
    at: datetime
    response_code: str | None = None
    button_label: str | None = None  # after update_template_card relabelled the button

    @property
    def task_id(self) -> str | None:
        return self.body.get("task_id") if self.msgtype == "template_card" else None

    def as_text(self) -> str:
        """A one-message summary for terminal output."""
        if self.msgtype in ("text", "markdown"):
            return str(self.body.get("content", ""))
        if self.msgtype == "textcard":
            return f"[卡片] {self.body.get('title')}\n{self.body.get('description')}"
        title = self.body.get("main_title", {}).get("title", "")
        rows = "; ".join(
            f"{r['keyname']}：{r['value']}" for r in self.body.get("horizontal_content_list", [])
        )
        buttons = " / ".join(b["text"] for b in self.body.get("button_list", []))
        state = f"（按钮已更新为「{self.button_label}」）" if self.button_label else ""
        return f"[模板卡片] {title} {rows} 按钮：{buttons}{state}".strip()


@dataclass
class Fault:
    path: str
    errcode: int
    remaining: int
    errmsg: str


@dataclass
class Sandbox:
    corp_id: str
    secret: str
    agent_id: int
    token: str
    encoding_aes_key: str
    clock: Clock = field(default_factory=SystemClock)
    per_minute: int = 30
    per_hour: int = 1000
    token_ttl: int = 7200
    follow_user_page: int = 500
    members: dict[str, str] = field(default_factory=dict)  # userid -> name
    external_contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, datetime] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    delivered: list[Delivered] = field(default_factory=list)
    dropped: list[Delivered] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    task_ids: set[str] = field(default_factory=set)
    response_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_codes: dict[str, str] = field(default_factory=dict)  # code -> userid
    agent_ticket: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    _send_times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # -- set-up and control ------------------------------------------------------------
    def add_member(self, userid: str, name: str) -> None:
        self.members[userid] = name

    def add_external_contact(
        self,
        external_userid: str,
        *,
        name: str,
        follow_user: list[dict[str, Any]],
        gender: int = 0,
    ) -> None:
        self.external_contacts[external_userid] = {
            "external_contact": {
                "external_userid": external_userid,
                "name": name,
                "type": 1,
                "gender": gender,
            },
            "follow_user": follow_user,
        }

    def inject(self, path: str, errcode: int, *, times: int = 1, errmsg: str = "injected") -> None:
        """The next `times` calls to `path` (e.g. "/message/send") answer `errcode`."""
        with self._lock:
            self.faults.append(Fault(path, errcode, times, errmsg))

    def expire_tokens(self) -> None:
        """Every issued token is now expired (WeCom answers 42001 for it)."""
        with self._lock:
            past = self.clock.now() - timedelta(seconds=1)
            self.tokens = {t: past for t in self.tokens}

    def inbox(self, userid: str) -> list[Delivered]:
        return [d for d in self.delivered if d.touser == userid]

    # -- rules -------------------------------------------------------------------------
    def _fault(self, path: str) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.path == path and fault.remaining > 0:
                fault.remaining -= 1
                return err(fault.errcode, fault.errmsg)
        return None

    def _check_token(self, token: str | None) -> dict[str, Any] | None:
        if not token:
            return err(41001, "access_token missing")
        expires = self.tokens.get(token)
        if expires is None:
            return err(40014, "invalid access_token")
        if expires <= self.clock.now():
            return err(42001, "access_token expired")
        return None

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._seq):08d}{secrets.token_hex(4)}"

    # -- API ---------------------------------------------------------------------------
    def gettoken(self, corpid: str | None, corpsecret: str | None) -> dict[str, Any]:
        with self._lock:
            self.calls["/gettoken"] += 1
            if corpid != self.corp_id:
                return err(40013, "invalid corpid")
            if corpsecret != self.secret:
                return err(40001, "invalid credential")
            if fault := self._fault("/gettoken"):
                return fault
            token = secrets.token_urlsafe(48)
            self.tokens[token] = self.clock.now() + timedelta(seconds=self.token_ttl)
            return ok(access_token=token, expires_in=self.token_ttl)

    def _validate_body(self, msgtype: str, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            return err(41011, f"missing {msgtype}")
        if msgtype in ("text", "markdown"):
            content = body.get("content")
            if not content:
                return err(44004, "empty content")
            if len(str(content).encode()) > cards.TEXT_MAX_BYTES:
                return err(40058, "content exceed max length 2048 bytes")
        elif msgtype == "textcard":
            for name, limit in (
                ("title", cards.TEXTCARD_TITLE),
                ("description", cards.TEXTCARD_DESC),
            ):
                if not body.get(name) or len(str(body[name])) > limit:
                    return err(40058, f"textcard.{name} missing or too long")
        elif msgtype == "template_card":
            return self._validate_card(body)
        return None

    def _validate_card(self, card: dict[str, Any]) -> dict[str, Any] | None:
        if card.get("card_type") != "button_interaction":
            return err(40058, "card_type not supported by the sandbox")
        task_id = str(card.get("task_id") or "")
        if not _TASK_ID.match(task_id):
            return err(40058, "invalid task_id")
        if task_id in self.task_ids:
            return err(42014, "task_id exist")
        buttons = card.get("button_list") or []
        if not 1 <= len(buttons) <= cards.MAX_BUTTONS:
            return err(40058, "button_list size invalid")
        keys = [b.get("key") for b in buttons]
        if len(set(keys)) != len(keys) or any(not k or len(k.encode()) > 1024 for k in keys):
            return err(40058, "button key invalid or duplicated")
        title = card.get("main_title", {})
        limits = [
            (title.get("title", ""), cards.TITLE),
            (title.get("desc", ""), cards.TITLE_DESC),
            (card.get("sub_title_text", ""), cards.SUB_TITLE),
            (card.get("source", {}).get("desc", ""), cards.SOURCE_DESC),
        ]
        limits += [(b.get("text", ""), cards.BUTTON_TEXT) for b in buttons]
        rows = card.get("horizontal_content_list", [])
        if len(rows) > cards.MAX_ROWS:
            return err(40058, "horizontal_content_list too long")
        for row in rows:
            limits += [
                (row.get("keyname", ""), cards.ROW_KEY),
                (row.get("value", ""), cards.ROW_VALUE),
            ]
        if any(len(str(text)) > limit for text, limit in limits):
            return err(40058, "template_card field exceeds its length limit")
        return None

    def _within_limits(self, userid: str, now: datetime) -> bool:
        times = [t for t in self._send_times[userid] if t > now - timedelta(hours=1)]
        self._send_times[userid] = times
        last_minute = [t for t in times if t > now - timedelta(minutes=1)]
        return len(last_minute) < self.per_minute and len(times) < self.per_hour

    def _is_duplicate(self, userid: str, msgtype: str, body: dict[str, Any], interval: int) -> bool:
        since = self.clock.now() - timedelta(seconds=interval)
        key = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return any(
            d.touser == userid
            and d.msgtype == msgtype
            and d.at > since
            and json.dumps(d.body, sort_keys=True, ensure_ascii=False) == key
            for d in self.delivered
        )

    def send(self, access_token: str | None, payload: Any) -> dict[str, Any]:
        with self._lock:
            self.calls["/message/send"] += 1
            if problem := self._check_token(access_token):
                return problem
            if fault := self._fault("/message/send"):
                return fault
            if not isinstance(payload, dict):
                return err(47001, "data format error")
            if payload.get("agentid") != self.agent_id:
                return err(40056, "invalid agentid")
            msgtype = str(payload.get("msgtype") or "")
            if msgtype not in ("text", "markdown", "textcard", "template_card"):
                return err(40008, "invalid message type")
            body = payload.get(msgtype)
            if problem := self._validate_body(msgtype, body):
                return problem
            assert isinstance(body, dict)
            users = [u for u in str(payload.get("touser") or "").split("|") if u]
            if len(users) > 1000:
                return err(40058, "touser exceeds 1000")
            valid = [u for u in users if u in self.members]
            invalid = [u for u in users if u not in self.members]
            if not valid:
                return err(81013, "user & party & tag all invalid")
            now = self.clock.now()
            msgid = self._next_id("msg")
            response_code = None
            if msgtype == "template_card":
                self.task_ids.add(body["task_id"])
                response_code = self._issue_code(valid[0], body["task_id"], now)
            dedupe = int(payload.get("duplicate_check_interval") or 1800)
            for user in valid:
                if payload.get("enable_duplicate_check") and self._is_duplicate(
                    user, msgtype, body, dedupe
                ):
                    continue
                item = Delivered(msgid, user, msgtype, body, now, response_code)
                if self._within_limits(user, now):
                    self._send_times[user].append(now)
                    self.delivered.append(item)
                else:
                    self.dropped.append(item)  # WeCom drops the excess without saying so
            extra: dict[str, Any] = {"invaliduser": "|".join(invalid), "msgid": msgid}
            if response_code:
                extra["response_code"] = response_code
            return ok(**extra)

    def _issue_code(self, userid: str, task_id: str, now: datetime) -> str:
        code = secrets.token_urlsafe(24)
        self.response_codes[code] = {
            "userid": userid,
            "task_id": task_id,
            "issued": now,
            "used": False,
        }
        return code

    def issue_click_code(self, userid: str, task_id: str) -> str:
        """A fresh response code, as carried by a click callback."""
        with self._lock:
            return self._issue_code(userid, task_id, self.clock.now())

    def update_template_card(self, access_token: str | None, payload: Any) -> dict[str, Any]:
        with self._lock:
            self.calls["/message/update_template_card"] += 1
            if problem := self._check_token(access_token):
                return problem
            if fault := self._fault("/message/update_template_card"):
                return fault
            if not isinstance(payload, dict):
                return err(47001, "data format error")
            if payload.get("agentid") != self.agent_id:
                return err(40056, "invalid agentid")
            code = self.response_codes.get(str(payload.get("response_code")))
            if (
                code is None
                or code["used"]
                or self.clock.now() - code["issued"] > RESPONSE_CODE_TTL
            ):
                return err(40058, "invalid response_code")
            code["used"] = True
            label = (payload.get("button") or {}).get("replace_name")
            for item in self.delivered:
                if item.task_id == code["task_id"] and item.touser in payload.get("userids", []):
                    if label:
                        item.button_label = str(label)
                    elif payload.get("template_card"):
                        item.body = payload["template_card"]
            return ok(invaliduser=[])

    def get_external_contact(
        self, access_token: str | None, external_userid: str | None, cursor: str | None
    ) -> dict[str, Any]:
        with self._lock:
            self.calls["/externalcontact/get"] += 1
            if problem := self._check_token(access_token):
                return problem
            if fault := self._fault("/externalcontact/get"):
                return fault
            contact = self.external_contacts.get(str(external_userid))
            if contact is None:
                return err(84061, "not external contact")
            start = int(cursor) if cursor and cursor.isdigit() else 0
            follow = contact["follow_user"]
            page = follow[start : start + self.follow_user_page]
            nxt = start + self.follow_user_page
            return ok(
                external_contact=contact["external_contact"],
                follow_user=page,
                next_cursor=str(nxt) if nxt < len(follow) else "",
            )

    def issue_oauth_code(self, userid: str) -> str:
        """The `code` WeCom appends when `userid` opens an OAuth link (one use)."""
        with self._lock:
            code = secrets.token_urlsafe(16)
            self.oauth_codes[code] = userid
            return code

    def get_ticket(self, access_token: str | None, ticket_type: str | None) -> dict[str, Any]:
        with self._lock:
            self.calls["/ticket/get"] += 1
            if problem := self._check_token(access_token):
                return problem
            if ticket_type != "agent_config":
                return err(40058, "invalid type")
            return ok(ticket=self.agent_ticket, expires_in=7200)

    def get_user_info(self, access_token: str | None, code: str | None) -> dict[str, Any]:
        with self._lock:
            self.calls["/auth/getuserinfo"] += 1
            if problem := self._check_token(access_token):
                return problem
            userid = self.oauth_codes.pop(str(code), None)
            if userid is None:
                return err(40029, "invalid code")
            return ok(userid=userid, user_ticket=secrets.token_urlsafe(16), expires_in=1800)
