"""Parsing WeCom's XML safely and naming each push by its identity (the dedupe key).

Both the outer envelope and the decrypted message are parsed with defusedxml, so a DTD or an
entity is refused before anything else looks at the XML. (wechatpy's own parser, xmltodict
over expat, would expand entities; wechatpy is used for the crypto and for rendering replies.)
Handlers read the raw fields; `template_card_event`, which wechatpy does not know, included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class MalformedPush(Exception):
    """The XML is unsafe, unparsable or lacks a field WeCom always sends."""

    status_code = 400

    def __init__(self, code: str, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(reason)


def _element_to_dict(elem: Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in elem:
        out[child.tag] = _element_to_dict(child) if len(child) else (child.text or "")
    return out


def parse_xml(text: str | bytes) -> dict[str, Any]:
    """Parse a flat `<xml>...</xml>` document into a dict, refusing DTDs and entities."""
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MalformedPush("unsafe_xml", "XML 含 DTD 或实体声明，已拒绝") from None
    except ParseError as exc:
        raise MalformedPush("bad_xml", f"XML 无法解析：{exc}") from None
    if root.tag != "xml":
        raise MalformedPush("bad_xml", "根元素不是 <xml>")
    return _element_to_dict(root)


# The fields that identify an event, in PROTOCOL.md's order; events carry no MsgId.
EVENT_IDENTITY_FIELDS = (
    "Event",
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "FromUserName",
    "CreateTime",
    "EventKey",
    "TaskId",
    "ResponseCode",
)


@dataclass(frozen=True)
class Inbound:
    """A decrypted push: its raw fields and what identifies it."""

    plaintext: str
    fields: dict[str, Any] = field(repr=False)

    @property
    def msg_type(self) -> str:
        return str(self.fields["MsgType"]).lower()

    @property
    def event(self) -> str | None:
        event = self.fields.get("Event")
        return str(event).lower() if event else None

    @property
    def change_type(self) -> str | None:
        value = self.fields.get("ChangeType")
        return str(value) if value else None

    @property
    def from_user(self) -> str:
        return str(self.fields["FromUserName"])

    @property
    def advisor_userid(self) -> str:
        """The staff member concerned: `UserID` for contact events (sent by `sys`)."""
        return str(self.fields.get("UserID") or self.fields["FromUserName"])

    @property
    def content(self) -> str:
        return str(self.fields.get("Content") or "")

    @property
    def dedupe_key(self) -> str:
        if self.msg_type != "event":
            return f"msg:{self.fields['MsgId']}"
        parts = [str(self.fields.get(name) or "") for name in EVENT_IDENTITY_FIELDS]
        return "evt:" + "|".join(parts)


def parse_inbound(plaintext: str, *, corp_id: str) -> Inbound:
    """Validate a decrypted message; raise MalformedPush naming the first missing field."""
    fields = parse_xml(plaintext)
    required = ["ToUserName", "FromUserName", "CreateTime", "MsgType"]
    msg_type = str(fields.get("MsgType") or "").lower()
    required.append("Event" if msg_type == "event" else "MsgId")
    for name in required:
        if not fields.get(name):
            raise MalformedPush("missing_field", f"缺少字段 {name}")
    if not str(fields["CreateTime"]).isdigit():
        raise MalformedPush("bad_field", "CreateTime 不是整数")
    if fields["ToUserName"] != corp_id:
        raise MalformedPush("wrong_corp_id", "ToUserName 与本企业 CorpID 不符")
    return Inbound(plaintext=plaintext, fields=fields)
