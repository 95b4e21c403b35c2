"""Builders for WeCom message bodies, each kept within WeCom's documented limits (doc 90236).

Lengths are counted as WeCom counts them: characters for card fields, UTF-8 bytes for text,
markdown and keys. Truncation never splits a character and ends with an ellipsis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 2048
TASK_ID_MAX_BYTES = 128
BUTTON_KEY_MAX_BYTES = 1024
MAX_BUTTONS = 6
MAX_ROWS = 6
# Template-card field limits in characters.
SOURCE_DESC = 13
TITLE = 26
TITLE_DESC = 30
SUB_TITLE = 112
ROW_KEY = 5
ROW_VALUE = 26
BUTTON_TEXT = 10
TEXTCARD_TITLE = 128
TEXTCARD_DESC = 512
TEXTCARD_BTN = 4

_TASK_ID = re.compile(r"^[A-Za-z0-9_\-@]{1,128}$")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def clip_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary, with an ellipsis when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len("…".encode())
    return data[:room].decode("utf-8", errors="ignore") + "…"


def text(content: str) -> dict[str, Any]:
    return {"content": clip_bytes(content, TEXT_MAX_BYTES)}


def markdown(content: str) -> dict[str, Any]:
    return {"content": clip_bytes(content, MARKDOWN_MAX_BYTES)}


def textcard(title: str, description: str, url: str, btntxt: str = "详情") -> dict[str, Any]:
    return {
        "title": clip(title, TEXTCARD_TITLE),
        "description": clip(description, TEXTCARD_DESC),
        "url": url,
        "btntxt": clip(btntxt, TEXTCARD_BTN),
    }


@dataclass(frozen=True)
class Button:
    text: str
    key: str
    style: int = 1  # 1..4


def button_card(
    *,
    task_id: str,
    title: str,
    buttons: list[Button],
    desc: str = "",
    source: str = "投顾助手",
    sub_title: str = "",
    rows: list[tuple[str, str]] | None = None,
    url: str | None = None,
) -> dict[str, Any]:
    """A `button_interaction` template card: the advisor taps a button to log what happened."""
    if not _TASK_ID.match(task_id):
        raise ValueError(f"task_id {task_id!r}: only digits, letters and _-@, at most 128 bytes")
    if not 1 <= len(buttons) <= MAX_BUTTONS:
        raise ValueError(f"a button card needs 1 to {MAX_BUTTONS} buttons, got {len(buttons)}")
    keys = [b.key for b in buttons]
    if len(set(keys)) != len(keys):
        raise ValueError("button keys must be unique within a card")
    for key in keys:
        if len(key.encode()) > BUTTON_KEY_MAX_BYTES:
            raise ValueError(f"button key longer than {BUTTON_KEY_MAX_BYTES} bytes")
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": {"desc": clip(source, SOURCE_DESC)},
        "main_title": {"title": clip(title, TITLE), "desc": clip(desc, TITLE_DESC)},
        "task_id": task_id,
        "button_list": [
            {"type": 0, "text": clip(b.text, BUTTON_TEXT), "style": b.style, "key": b.key}
            for b in buttons
        ],
    }
    if sub_title:
        card["sub_title_text"] = clip(sub_title, SUB_TITLE)
    if rows:
        card["horizontal_content_list"] = [
            {"keyname": clip(k, ROW_KEY), "value": clip(v, ROW_VALUE)} for k, v in rows[:MAX_ROWS]
        ]
    if url:
        card["card_action"] = {"type": 1, "url": url}
    return card
