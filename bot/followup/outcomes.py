"""Outcome codes an advisor can log, declared once; buttons and reports read them from here."""

from __future__ import annotations

from dataclasses import dataclass

from bot.wecom.cards import Button


@dataclass(frozen=True)
class Outcome:
    code: str
    label: str  # what the advisor reads on the button
    done_label: str  # what the button says once tapped
    style: int = 1


OUTCOMES: dict[str, Outcome] = {
    o.code: o
    for o in (
        Outcome("contacted", "已联系", "已联系客户"),
        Outcome("no_answer", "未接通", "未接通，待再联系", style=2),
        Outcome("later", "稍后跟进", "已标记稍后跟进", style=2),
        Outcome("not_needed", "无需跟进", "已标记无需跟进", style=3),
    )
}

KEY_PREFIX = "fu"


def button_key(outcome: str, task_id: str) -> str:
    return f"{KEY_PREFIX}:{outcome}:{task_id}"


def parse_key(key: str) -> tuple[Outcome, str] | None:
    """(outcome, task_id) for a follow-up button key, None if it is not one of ours."""
    prefix, _, rest = key.partition(":")
    code, _, task_id = rest.partition(":")
    if prefix != KEY_PREFIX or code not in OUTCOMES or not task_id:
        return None
    return OUTCOMES[code], task_id


def buttons(
    task_id: str, codes: tuple[str, ...] = ("contacted", "no_answer", "later")
) -> list[Button]:
    return [Button(OUTCOMES[c].label, button_key(c, task_id), OUTCOMES[c].style) for c in codes]
