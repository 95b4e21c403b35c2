"""Ranked suggestions: the top approved, valid, suitable scripts for a context, rendered.

A context is any of: a customer, an MOT strategy, the advisor's free text, a product. The
score adds text similarity (RapidFuzz over title, tags and body), scenario match (MOT,
product), segment match, and measured effectiveness smoothed so new scripts still get tried
((successes + 1) / (shows + 2), a success being a "contacted" follow-up by the same advisor
for the same customer after the script was shown). Each suggestion says why
it ranked; each refusal says why not.

The live scripts are held in an in-memory index, rebuilt when the library changes (any audit
row) or the day turns; a text query runs one `process.extract` over the index (RapidFuzz's
`partial_ratio` over text without spaces, which suits Chinese: "资金转出" is found inside a
longer title) over a shortlist of the texts sharing most of the query's character bigrams,
then scores and gates only the candidates it returns.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.db import read_only
from bot.followup.models import FollowUp
from bot.knowledge.base import Knowledge, Product
from bot.scripts import library
from bot.scripts import service as scripts
from bot.scripts.models import ScriptAudit, ScriptDelivery, ScriptVersion
from bot.scripts.suitability import Verdict, script_allowed

_PLACEHOLDER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
CANDIDATES = 60  # text matches scored and gated per query
EFFECT_TTL = 300.0  # seconds between recounts of shows and successes
SHORTLIST = 400  # texts RapidFuzz scores per query, picked by shared character bigrams


@dataclass(frozen=True)
class Audience:
    """What the gate and the ranking need to know about the customer."""

    customer_no: str | None
    investor_type: str
    risk_level: str
    assessment_valid_until: date
    marketing_opt_out: bool
    tags: tuple[str, ...]
    context: dict[str, Any]  # the template context (`customer`, `advisor`)


@dataclass(frozen=True)
class Suggestion:
    script_id: str
    version: int
    title: str
    compliance_ref: str | None
    text: str  # rendered for the customer
    score: float
    why: list[str]
    row: ScriptVersion = field(repr=False)


@dataclass(frozen=True)
class Ranked:
    suggestions: list[Suggestion]
    refused: list[tuple[str, str]]  # (script title, reason)


@dataclass
class _Entry:
    row: ScriptVersion
    products: list[Product]
    text: str


class ScriptCatalog:
    """The live library in memory, for one knowledge base and database."""

    def __init__(self, engine: Engine, knowledge: Knowledge):
        self.engine = engine
        self.knowledge = knowledge
        self._stamp: tuple[Any, ...] | None = None
        self._entries: list[_Entry] = []
        self._texts: list[str] = []
        self._grams: dict[str, list[int]] = {}
        self._effect: dict[str, tuple[int, int]] = {}
        self._effect_at = float("-inf")
        self._lock = threading.Lock()

    def refresh(self, today: date) -> None:
        """Rebuild the index when the library changed or the day turned; recount
        effectiveness at most every EFFECT_TTL seconds (it moves slowly, the log grows)."""
        with self._lock, Session(read_only(self.engine)) as session:
            stamp = (session.exec(select(sa.func.max(ScriptAudit.id))).one(), today)
            if stamp != self._stamp:
                rows = scripts.live(session, today=today)
                self._entries = [
                    _Entry(
                        row,
                        [
                            self.knowledge.products[c]
                            for c in row.products
                            if c in self.knowledge.products
                        ],
                        "".join(
                            [
                                row.title,
                                *row.mot,
                                row.stage,
                                row.intent,
                                *row.segments,
                                _PLACEHOLDER.sub("", row.body),
                            ]
                        ),
                    )
                    for row in rows
                ]
                self._texts = [e.text for e in self._entries]
                self._grams = _gram_index(self._texts)
                self._stamp = stamp
            if time.monotonic() - self._effect_at > EFFECT_TTL:
                self._effect = _effectiveness(session)
                self._effect_at = time.monotonic()

    def suggest(
        self,
        *,
        audience: Audience,
        today: date,
        text: str = "",
        mot: str | None = None,
        product: str | None = None,
        k: int = 3,
    ) -> Ranked:
        """The top `k` scripts for this context, rendered, with why; and what was refused."""
        self.refresh(today)
        if text.strip():
            query = "".join(text.split())
            shortlist = self._shortlist(query)
            hits = process.extract(
                query,
                {i: self._texts[i] for i in shortlist},
                scorer=fuzz.partial_ratio,
                limit=CANDIDATES,
                score_cutoff=40,
            )
            pool = [(self._entries[i], float(score)) for _, score, i in hits]
        else:
            pool = [(e, 0.0) for e in self._entries]
        scored: list[tuple[float, list[str], _Entry]] = []
        refused: list[tuple[str, str]] = []
        for entry, text_score in pool:
            row = entry.row
            if mot and mot not in row.mot and not text:
                continue
            if product and product not in row.products and not text:
                continue
            verdict = self._gate(entry, audience, today)
            if not verdict.allowed:
                refused.append((row.title, verdict.reason or ""))
                continue
            why: list[str] = []
            score = 0.6 * text_score
            if text_score:
                why.append(f"文本匹配 {text_score:.0f} 分")
            if mot and mot in row.mot:
                score += 30
                why.append(f"场景匹配 {mot}")
            if product and product in row.products:
                score += 20
                why.append("产品匹配")
            common = set(row.segments) & set(audience.tags)
            if common:
                score += 10
                why.append(f"客群匹配（{'、'.join(sorted(common))}）")
            shows, wins = self._effect.get(row.script_id, (0, 0))
            rate = (wins + 1) / (shows + 2)
            score += 20 * rate
            why.append(f"有效率 {rate:.0%}（展示 {shows} 次，促成联系 {wins} 次）")
            scored.append((score, why, entry))
        scored.sort(key=lambda t: (-t[0], t[2].row.script_id))
        return Ranked([self._render(e, s, w, audience) for s, w, e in scored[:k]], refused)

    def _shortlist(self, query: str) -> list[int]:
        """The texts sharing most of the query's character bigrams (its characters, for a
        one-character query): a text without them cannot match well, so RapidFuzz scores
        only these few hundred instead of the whole library."""
        counts: Counter[int] = Counter()
        for gram in _grams_of(query):
            counts.update(self._grams.get(gram, ()))
        return [i for i, _ in counts.most_common(SHORTLIST)]

    def _gate(self, entry: _Entry, audience: Audience, today: date) -> Verdict:
        row = entry.row
        return script_allowed(
            investor_type=audience.investor_type,
            risk_level=audience.risk_level,
            assessment_valid_until=audience.assessment_valid_until,
            marketing_opt_out=audience.marketing_opt_out,
            script_risk_levels=row.risk_levels,
            script_investor_types=row.investor_types,
            intent=row.intent,
            products=entry.products,
            today=today,
        )

    @staticmethod
    def _render(entry: _Entry, score: float, why: list[str], audience: Audience) -> Suggestion:
        context = dict(audience.context)
        if entry.products:
            p = entry.products[0]
            context["product"] = {"name": p.name, "code": p.code, "risk_level": p.risk_level}
        row = entry.row
        return Suggestion(
            row.script_id,
            row.version,
            row.title,
            row.compliance_ref,
            library.render(row.body, context),
            round(score, 1),
            why,
            row,
        )


def _grams_of(text: str) -> set[str]:
    return set(text) if len(text) < 2 else {text[i : i + 2] for i in range(len(text) - 1)}


def _gram_index(texts: list[str]) -> dict[str, list[int]]:
    """Character bigram (and single character) → the texts containing it."""
    index: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        for gram in _grams_of(text) | set(text):
            index[gram].append(i)
    return dict(index)


def _effectiveness(session: Session) -> dict[str, tuple[int, int]]:
    """(times shown, times followed by a 'contacted' follow-up) per script."""
    d, f = ScriptDelivery.__table__, FollowUp.__table__  # type: ignore[attr-defined]
    shows: dict[str, int] = dict(
        session.connection()
        .execute(sa.select(d.c.script_id, sa.func.count()).group_by(d.c.script_id))
        .all()
    )
    success = sa.exists().where(
        f.c.customer_no == d.c.customer_no,
        f.c.advisor_userid == d.c.advisor_userid,
        f.c.outcome == "contacted",
        f.c.recorded_at >= d.c.at,
    )
    wins: dict[str, int] = dict(
        session.connection()
        .execute(
            sa.select(d.c.script_id, sa.func.count())
            .where(d.c.customer_no.is_not(None), success)
            .group_by(d.c.script_id)
        )
        .all()
    )
    return {sid: (int(n), int(wins.get(sid, 0))) for sid, n in shows.items()}
