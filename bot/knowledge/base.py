"""Loading and validating `knowledge/`; errors name file, line and field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.knowledge.yamlfile import KnowledgeError, Problem, load, validate

RiskLevel = Literal["R1", "R2", "R3", "R4", "R5"]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Product(_Item):
    code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    kind: Literal["stock", "fund", "bond", "cb", "wealth", "option", "margin"]
    risk_level: RiskLevel
    key_facts: list[str] = Field(default_factory=list)
    disclosures: list[str] = Field(default_factory=list)


class Disclosure(_Item):
    key: str = Field(pattern=r"^[a-z_]+$")
    text: str = Field(min_length=2)
    kinds: list[str]


class LexiconEntry(_Item):
    id: str = Field(pattern=r"^L\d{2,}$")
    phrase: str
    patterns: list[str] = Field(min_length=1)
    category: str
    severity: Literal["block", "warn"]
    basis: str
    safe_rewording: str
    negatable: bool = True
    unless_present: str | None = None

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"正则表达式 {p!r} 无效：{exc}") from None
        return patterns


class FaqEntry(_Item):
    id: str
    question: str
    answer: str
    tags: list[str] = Field(default_factory=list)


class Strategy(_Item):
    id: str = Field(pattern=r"^M\d{2}$")
    name: str
    trigger: str
    threshold: str
    stage: str
    line: str
    urgency: Literal["P1", "P2", "P3"]
    source: str


@dataclass(frozen=True)
class Knowledge:
    products: dict[str, Product]
    disclosures: dict[str, Disclosure]
    lexicon: list[LexiconEntry]
    faq: list[FaqEntry]
    strategies: dict[str, Strategy]
    directory: Path = field(compare=False)

    def disclosures_for(self, kinds: set[str]) -> list[Disclosure]:
        """The disclosures material about these product kinds must carry."""
        return [d for d in self.disclosures.values() if "*" in d.kinds or kinds & set(d.kinds)]


FILES: dict[str, type[_Item]] = {
    "products.yaml": Product,
    "disclosures.yaml": Disclosure,
    "lexicon.yaml": LexiconEntry,
    "faq.yaml": FaqEntry,
    "mot.yaml": Strategy,
}


def _items(directory: Path, name: str, model: type[_Item], problems: list[Problem]) -> list[Any]:
    path = directory / name
    if not path.exists():
        problems.append(Problem(str(path), 1, "文件不存在"))
        return []
    try:
        data = load(path)
    except KnowledgeError as exc:
        problems.extend(exc.problems)
        return []
    if not isinstance(data, list):
        problems.append(Problem(str(path), 1, "应为条目列表"))
        return []
    out = []
    for item in data:
        if not isinstance(item, dict):
            problems.append(Problem(str(path), 1, "条目应为映射"))
            continue
        parsed = validate(model, item, path, problems)
        if parsed is not None:
            out.append((parsed, item.get("__line__", 1)))
    return out


def load_knowledge(directory: Path) -> Knowledge:
    """Load and cross-check every file; raise KnowledgeError listing every problem."""
    problems: list[Problem] = []
    loaded = {name: _items(directory, name, model, problems) for name, model in FILES.items()}
    disclosures = {d.key: d for d, _ in loaded["disclosures.yaml"]}
    for product, line in loaded["products.yaml"]:
        for key in product.disclosures:
            if key not in disclosures:
                problems.append(
                    Problem(
                        str(directory / "products.yaml"),
                        line,
                        f"disclosures: 未知的揭示条款 {key!r}",
                    )
                )
    seen: set[str] = set()
    for entry, line in loaded["lexicon.yaml"]:
        if entry.id in seen:
            problems.append(
                Problem(str(directory / "lexicon.yaml"), line, f"id: 重复的 {entry.id}")
            )
        seen.add(entry.id)
    if problems:
        raise KnowledgeError(problems)
    return Knowledge(
        products={p.code: p for p, _ in loaded["products.yaml"]},
        disclosures=disclosures,
        lexicon=[e for e, _ in loaded["lexicon.yaml"]],
        faq=[f for f, _ in loaded["faq.yaml"]],
        strategies={s.id: s for s, _ in loaded["mot.yaml"]},
        directory=directory,
    )


def load_knowledge_or_fail(settings: Any) -> Knowledge:
    """The configured knowledge base; its problems stop start-up as a ConfigError."""
    from bot.config import ConfigError

    try:
        return load_knowledge(settings.bot_knowledge_dir)
    except KnowledgeError as exc:
        raise ConfigError([f"BOT_KNOWLEDGE_DIR: {p}" for p in exc.problems]) from None
