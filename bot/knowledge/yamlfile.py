"""YAML that remembers where things are, so every validation error names file, line and field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

LINE = "__line__"


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE] = node.start_mark.line + 1
        # Each key's own line, for errors about that field.
        mapping["__lines__"] = {
            k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)
        }
        return mapping


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class KnowledgeError(Exception):
    """One or more problems in knowledge or library files; `str()` lists them one per line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load(path: Path) -> Any:
    """Parse `path`; a syntax error becomes a KnowledgeError with its line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise KnowledgeError([Problem(str(path), line, f"YAML 语法错误：{exc.problem}")]) from None


def strip_lines(value: Any) -> Any:
    """The same data without the line bookkeeping."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k not in (LINE, "__lines__")}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def validate(
    model: type[BaseModel], item: dict[str, Any], path: Path, problems: list[Problem]
) -> Any:
    """`model` from one mapping, or None with its problems (file:line: field: reason) added."""
    try:
        return model.model_validate(strip_lines(item))
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "记录"
            top = str(err["loc"][0]) if err["loc"] else ""
            line = item.get("__lines__", {}).get(top, item.get(LINE, 1))
            reason = (
                "缺少必填字段"
                if err["type"] == "missing"
                else err["msg"].removeprefix("Value error, ")
            )
            problems.append(Problem(str(path), line, f"{field}: {reason}"))
        return None
