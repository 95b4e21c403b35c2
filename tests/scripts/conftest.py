"""The shipped knowledge base and script library, seeded into the test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot.app import Runtime
from bot.clock import FakeClock
from bot.compliance.check import Checker
from bot.knowledge.base import Knowledge, load_knowledge
from bot.scripts.seed import seed_library
from tests.customers.conftest import customers_book  # noqa: F401  (shared fixture)

ROOT = Path(__file__).parents[2]
KNOWLEDGE = ROOT / "knowledge"
LIBRARY = ROOT / "scripts_library"


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge(KNOWLEDGE)


@pytest.fixture(scope="session")
def checker(knowledge: Knowledge) -> Checker:
    return Checker(knowledge)


@pytest.fixture
def seeded(
    runtime: Runtime, engine: Engine, clock: FakeClock, knowledge: Knowledge, checker: Checker
) -> dict[str, Any]:
    return seed_library(
        engine, directory=LIBRARY, knowledge=knowledge, checker=checker, clock=clock
    )
