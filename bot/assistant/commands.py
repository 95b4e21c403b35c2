"""Chat commands, declared in one registry; the dispatcher is a table look-up.

A command is a name (plus aliases) at the start of the advisor's text; the rest is its
argument. Each declares whether it answers instantly (the passive reply) and a one-line
summary that `帮助` lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session

from bot.clock import Clock


@dataclass(frozen=True)
class CommandContext:
    session: Session
    clock: Clock
    tz: Any
    checker: Any
    catalog: Any
    advisor_userid: str
    args: str


@dataclass(frozen=True)
class Command:
    name: str
    aliases: tuple[str, ...]
    usage: str
    summary: str
    run: Callable[[CommandContext], str]


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: list[Command] = []
        self._by_word: dict[str, Command] = {}
        # What any other text gets; the customer commands make it a customer search.
        self.fallback: Callable[[CommandContext], str] = lambda ctx: unknown_reply(ctx.args)

    def command(
        self, name: str, *, usage: str, summary: str, aliases: tuple[str, ...] = ()
    ) -> Callable[[Callable[[CommandContext], str]], Callable[[CommandContext], str]]:
        def register(run: Callable[[CommandContext], str]) -> Callable[[CommandContext], str]:
            cmd = Command(name, aliases, usage, summary, run)
            for word in (name, *aliases):
                if word.lower() in self._by_word:
                    raise ValueError(f"chat command word {word!r} declared twice")
                self._by_word[word.lower()] = cmd
            self._commands.append(cmd)
            return run

        return register

    def resolve(self, text: str) -> tuple[Command, str] | None:
        """The command `text` invokes and its argument, or None."""
        word, _, rest = text.strip().partition(" ")
        cmd = self._by_word.get(word.lower())
        if cmd is None:
            # Chinese advisors often type no space: `话术定投`.
            for key in sorted(self._by_word, key=len, reverse=True):
                if text.strip().lower().startswith(key) and not key.isascii():
                    return self._by_word[key], text.strip()[len(key) :].strip()
            return None
        return cmd, rest.strip()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._commands)


COMMANDS = CommandRegistry()


def unknown_reply(text: str) -> str:
    shown = text.strip()[:20] or "（空消息）"
    return f"没有识别到指令「{shown}」。\n发送「帮助」查看可用指令。"


@COMMANDS.command(
    "帮助", aliases=("help", "菜单", "?", "？"), usage="帮助", summary="列出全部可用指令"
)
def _help(ctx: CommandContext) -> str:
    lines = ["可用指令："]
    lines += [f"· {cmd.usage} —— {cmd.summary}" for cmd in COMMANDS]
    lines.append("直接发送客户姓名、手机尾号后 4 位或客户号，即可查看客户卡片。")
    lines.append("在卡片上点按钮即可记录跟进结果。")
    return "\n".join(lines)


def reply_to(ctx: CommandContext, text: str) -> str:
    """The reply to an advisor's text message: a command, else the fallback (customer search)."""
    resolved = COMMANDS.resolve(text)
    if resolved is None:
        return COMMANDS.fallback(replace(ctx, args=text.strip()))
    cmd, args = resolved
    return cmd.run(replace(ctx, args=args))


@COMMANDS.command(
    "检查", aliases=("合规检查",), usage="检查 <草稿>", summary="发给客户前检查草稿是否含违规用语"
)
def _check_draft(ctx: CommandContext) -> str:
    if not ctx.args:
        return "请在「检查」后附上要发给客户的草稿，例如：检查 这款产品收益稳定"
    result = ctx.checker.check(ctx.args)
    return str(result.summary())
