"""The compliance check: lexicon hits and missing disclosures in any text.

Text is normalised before matching (full-width to half-width, traditional to simplified,
lower case, spaces and punctuation removed), so "保 本", "保．本" and "保本" are the same,
and each finding's span points back into the original text. A hit right after a negation
("本产品不保本", "不承诺收益") is the required wording, not a violation; so is a banned phrase
quoted as a prohibition ("禁止说「保本」"). `unless_present` rules stand only when the named
disclosure is missing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import zhconv

from bot.knowledge.base import Disclosure, Knowledge, LexiconEntry

NEGATIONS = (
    "不承诺",
    "不保证",
    "并非",
    "不是",
    "不能",
    "不会",
    "不得",
    "不可",
    "无法",
    "没有",
    "绝不",
    "禁止",
    "切勿",
    "不要",
    "严禁",
    "谨防",
    "警惕",
    "不",
    "非",
    "未",
    "勿",
    "无",
)
_KEEP = re.compile(r"[\w%.]")
# Words that make a quoted banned phrase a warning about it, not a use of it.
PROHIBITIONS = ("禁止", "不得", "不要说", "切勿", "严禁", "不能说", "警惕", "谨防", "提防")


@lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    return zhconv.convert(folded, "zh-cn").lower()


def normalize(text: str) -> tuple[str, list[int]]:
    """(normalised text, index into `text` of each normalised character)."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in _fold(ch):
            if _KEEP.match(c) and c != "_":
                out.append(c)
                where.append(i)
    # A dot is kept only as a decimal point ("5.5%"); elsewhere it is punctuation ("保．本").
    keep = [
        c != "." or (0 < k < len(out) - 1 and out[k - 1].isdigit() and out[k + 1].isdigit())
        for k, c in enumerate(out)
    ]
    pairs = [(c, w) for c, w, k in zip(out, where, keep, strict=True) if k]
    return "".join(c for c, _ in pairs), [w for _, w in pairs]


@dataclass(frozen=True)
class Finding:
    start: int  # span in the original text
    end: int
    text: str
    rule: str
    phrase: str
    category: str
    severity: str  # block|warn
    basis: str
    safe_rewording: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class CheckResult:
    text: str
    findings: list[Finding] = field(default_factory=list)
    missing_disclosures: list[Disclosure] = field(default_factory=list)

    @property
    def blocked(self) -> bool:
        return bool(self.missing_disclosures) or any(f.severity == "block" for f in self.findings)

    def as_dict(self) -> dict[str, object]:
        return {
            "may_send": not self.blocked,
            "findings": [f.as_dict() for f in self.findings],
            "missing_disclosures": [
                {"key": d.key, "text": d.text} for d in self.missing_disclosures
            ],
        }

    def summary(self) -> str:
        """The verdict in Chinese, one finding per line, for chat and the command line."""
        lines = [
            "❌ 不可发送"
            if self.blocked
            else ("⚠️ 可发送，但请注意以下提示" if self.findings else "✅ 未发现违规用语，可以发送")
        ]
        for f in self.findings:
            level = "禁止" if f.severity == "block" else "提示"
            lines.append(
                f"[{level}] 「{f.text}」（{f.category}，依据：{f.basis}）"
                f"建议改为：{f.safe_rewording}"
            )
        for d in self.missing_disclosures:
            lines.append(f"[禁止] 缺少必要的风险揭示：{d.text}")
        return "\n".join(lines)


class Checker:
    """Compiled lexicon and disclosures of one knowledge base."""

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        self.rules: list[tuple[LexiconEntry, re.Pattern[str]]] = [
            (entry, re.compile("|".join(f"(?:{p})" for p in entry.patterns)))
            for entry in knowledge.lexicon
        ]

    def contains(self, text: str, phrase: str) -> bool:
        return normalize(phrase)[0] in normalize(text)[0]

    def check(self, text: str, *, required: list[str] | tuple[str, ...] = ()) -> CheckResult:
        """Every lexicon hit in `text`, and every disclosure in `required` that it lacks."""
        norm, where = normalize(text)
        found: list[Finding] = []
        for entry, pattern in self.rules:
            if entry.unless_present and self.contains(text, entry.unless_present):
                continue
            for m in pattern.finditer(norm):
                if m.start() == m.end():
                    continue
                if entry.negatable and self._negated(norm, m.start()):
                    continue
                if self._quoted_as_prohibition(text, where[m.start()]):
                    continue
                start, end = where[m.start()], where[m.end() - 1] + 1
                found.append(
                    Finding(
                        start,
                        end,
                        text[start:end],
                        entry.id,
                        entry.phrase,
                        entry.category,
                        entry.severity,
                        entry.basis,
                        entry.safe_rewording,
                    )
                )
        result = CheckResult(text, _without_overlaps(found))
        for key in required:
            disclosure = self.knowledge.disclosures.get(key)
            if disclosure is not None and not self.contains(text, disclosure.text):
                result.missing_disclosures.append(disclosure)
        return result

    @staticmethod
    def _negated(norm: str, start: int) -> bool:
        before = norm[max(0, start - 4) : start]
        return any(before.endswith(n) for n in NEGATIONS)

    @staticmethod
    def _quoted_as_prohibition(text: str, start: int) -> bool:
        """「保本」 in "禁止说「保本」「稳赚」": quoting a banned phrase in a prohibition."""
        if start == 0 or text[start - 1] not in "「“\"'‘『":
            return False
        sentence_start = max(text.rfind(mark, 0, start) for mark in "。！？!?\n") + 1
        before = normalize(text[sentence_start : start - 1])[0]
        return any(w in before for w in PROHIBITIONS)


def _without_overlaps(found: list[Finding]) -> list[Finding]:
    """Keep the longest finding where several cover the same words; order by position."""
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and f.start < kept[-1].end:
            continue
        kept.append(f)
    return kept
