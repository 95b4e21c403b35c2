"""Shared helpers for the benchmarks: a fresh SQLite database and percentiles."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.db import create_db_engine, upgrade


def fresh_engine(name: str) -> Engine:
    path = Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) / f"{name}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]
