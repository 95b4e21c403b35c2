"""Script records as compliance writes them (files in `scripts_library/`, Excel), rendering,
and lint: schema, lexicon, disclosures, suitability consistency, unknown placeholders,
duplicates and near-duplicates. Every problem is `file:line: reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rapidfuzz import fuzz

from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge
from bot.knowledge.yamlfile import KnowledgeError, Problem, load, validate

RISK_ORDER = {"C1": 1, "C2": 2, "C3": 3, "C4": 4, "C5": 5}
PRODUCT_ORDER = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5}
NEAR_DUPLICATE = 92  # RapidFuzz ratio of two bodies above which they are one script twice
Status = Literal["draft", "submitted", "approved", "rejected", "retired"]


class ScriptRecord(BaseModel):
    """One script version as written in a library file or an Excel row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^S-[A-Z0-9]+-\d{2,}$")
    title: str = Field(min_length=2, max_length=40)
    mot: list[str] = Field(default_factory=list)
    stage: str
    intent: Literal["关怀", "服务", "资讯", "投教", "合规", "陪伴", "营销"]
    segments: list[str] = Field(default_factory=list)
    risk_levels: list[Literal["C1", "C2", "C3", "C4", "C5"]] = Field(min_length=1)
    investor_types: list[Literal["ordinary", "professional"]] = Field(min_length=1)
    products: list[str] = Field(default_factory=list)
    body: str = Field(min_length=10, max_length=1200)
    disclosures: list[str] = Field(default_factory=list)
    status: Status = "draft"
    version: int = Field(default=1, ge=1)
    author: str
    reviewer: str | None = None
    approved_on: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    compliance_ref: str | None = None

    @model_validator(mode="after")
    def _governance(self) -> ScriptRecord:
        if self.status == "approved":
            missing = [
                f
                for f in ("reviewer", "approved_on", "valid_until", "compliance_ref")
                if not getattr(self, f)
            ]
            if missing:
                raise ValueError(f"已批准的话术缺少 {', '.join(missing)}")
            if self.reviewer == self.author:
                raise ValueError("审核人不能与作者相同（四眼原则）")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until 早于 valid_from")
        return self


# The fields an author writes; the rest is governance.
CONTENT_KEYS = (
    "title",
    "mot",
    "stage",
    "intent",
    "segments",
    "risk_levels",
    "investor_types",
    "products",
    "body",
    "disclosures",
    "valid_from",
    "valid_until",
)

# What a script body may use: `customer.*`, `advisor.*`, `product.*`.
CUSTOMER_FIELDS = (
    "salutation",
    "name",
    "risk_level",
    "risk_label",
    "risk_valid_until",
    "asset_range",
    "investor_type",
)
SAMPLE_CONTEXT = {
    "customer": {
        "salutation": "张先生",
        "name": "张*",
        "risk_level": "C3",
        "risk_label": "稳健型",
        "risk_valid_until": "2027-11-20",
        "asset_range": "50-100万",
        "investor_type": "普通投资者",
    },
    "advisor": {"name": "王芳"},
    "product": {"name": "示例产品", "code": "000000", "risk_level": "R3"},
}
_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def render(body: str, context: dict[str, Any]) -> str:
    """The script's words for one customer (StrictUndefined: an unknown placeholder raises)."""
    return _env.from_string(body).render(**context)


@dataclass(frozen=True)
class LoadedScript:
    record: ScriptRecord
    file: str
    line: int


def read_library(directory: Path) -> tuple[list[LoadedScript], list[Problem]]:
    """Every script in `directory/*.yaml` with where it is, and the schema problems."""
    problems: list[Problem] = []
    scripts: list[LoadedScript] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        problems.append(Problem(str(directory), 1, "目录中没有话术文件（*.yaml）"))
    for path in files:
        try:
            data = load(path)
        except KnowledgeError as exc:
            problems.extend(exc.problems)
            continue
        if not isinstance(data, list):
            problems.append(Problem(str(path), 1, "应为话术列表"))
            continue
        for item in data:
            if not isinstance(item, dict):
                problems.append(Problem(str(path), 1, "话术应为映射"))
                continue
            record = validate(ScriptRecord, item, path, problems)
            if record is not None:
                scripts.append(LoadedScript(record, str(path), item.get("__line__", 1)))
    return scripts, problems


def lint_record(record: ScriptRecord, knowledge: Knowledge, checker: Checker) -> list[str]:
    """What is wrong with one script (empty: it may be submitted)."""
    reasons: list[str] = []
    for code in record.products:
        if code not in knowledge.products:
            reasons.append(f"products: 未知产品 {code!r}")
    for mot in record.mot:
        if mot not in knowledge.strategies:
            reasons.append(f"mot: 未知的 MOT 策略 {mot!r}")
    for key in record.disclosures:
        if key not in knowledge.disclosures:
            reasons.append(f"disclosures: 未知的揭示条款 {key!r}")
    try:
        text = render(record.body, SAMPLE_CONTEXT)
    except TemplateSyntaxError as exc:
        return [*reasons, f"body: 模板语法错误（第 {exc.lineno} 行）：{exc.message}"]
    except UndefinedError as exc:
        return [*reasons, f"body: 未知的占位符：{exc.message}"]
    products = [knowledge.products[c] for c in record.products if c in knowledge.products]
    kinds = {p.kind for p in products}
    needed = [d.key for d in knowledge.disclosures_for(set(map(str, kinds)))] if products else []
    for key in needed:
        if key not in record.disclosures:
            reasons.append(
                f"disclosures: 涉及{'、'.join(sorted(kinds))}产品，必须包含揭示条款 {key}"
            )
    result = checker.check(f"{record.title}\n{text}", required=record.disclosures)
    for f in result.findings:
        if f.severity == "block":
            reasons.append(
                f"body: 含禁用语「{f.text}」（{f.category}，{f.basis}）建议：{f.safe_rewording}"
            )
    for d in result.missing_disclosures:
        reasons.append(f"body: 缺少揭示条款原文「{d.text}」")
    if products:
        top = max(PRODUCT_ORDER[p.risk_level] for p in products)
        below = [
            lvl
            for lvl in record.risk_levels
            if RISK_ORDER[lvl] < top and "ordinary" in record.investor_types
        ]
        if below:
            reasons.append(
                f"risk_levels: 含 {'、'.join(below)}，但产品风险等级为 R{top}，不得向这些客户推荐"
            )
    return reasons


def lint(directory: Path, knowledge: Knowledge, checker: Checker) -> list[Problem]:
    """Every problem in the library at `directory`, as file:line: reason."""
    scripts, problems = read_library(directory)
    seen: dict[tuple[str, int], LoadedScript] = {}
    for s in scripts:
        key = (s.record.id, s.record.version)
        if key in seen:
            problems.append(
                Problem(
                    s.file,
                    s.line,
                    f"id: {s.record.id} v{s.record.version} 重复"
                    f"（另见 {seen[key].file}:{seen[key].line}）",
                )
            )
        seen[key] = s
        problems += [
            Problem(s.file, s.line, f"{s.record.id}: {r}")
            for r in lint_record(s.record, knowledge, checker)
        ]
    live = [s for s in scripts if s.record.status in ("approved", "submitted", "draft")]
    for i, a in enumerate(live):
        for b in live[i + 1 :]:
            if (
                a.record.id != b.record.id
                and fuzz.ratio(a.record.body, b.record.body) >= NEAR_DUPLICATE
            ):
                problems.append(
                    Problem(
                        b.file,
                        b.line,
                        f"{b.record.id}: 与 {a.record.id}（{a.file}:{a.line}）几乎相同，请合并",
                    )
                )
    return problems
