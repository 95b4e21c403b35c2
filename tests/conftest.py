"""Shared fixtures: a real database, the WeCom sandbox, and a bot wired to both.

The database is SQLite unless DATABASE_URL names a PostgreSQL server; then this run creates
its own database there and drops it at the end (the server outlives runs). Tests that need
PostgreSQL whatever DATABASE_URL says use `pg_url`, which skips when no server is reachable.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from bot.app import Runtime, build_runtime, create_app
from bot.clock import FakeClock
from bot.compliance.check import Checker
from bot.config import load_settings
from bot.db import create_db_engine, upgrade
from bot.knowledge.base import Knowledge, load_knowledge
from bot.outbox.budget import SendBudget
from bot.scripts.seed import seed_library
from bot.wecom.client import RetryPolicy
from bot.wecom.sandbox import CallbackSender, Sandbox, create_sandbox_app

VECTORS = json.loads((Path(__file__).parents[1].parent / "shared/wecom/vectors.json").read_text())
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# The app under test runs with wechatpy's published test credentials.
APP = VECTORS["wechatpy_tests"]
SECRET = "sandbox-secret-Zr8Kq"
AGENT_ID = 1000002
ADVISORS = {"wangfang": "王芳", "lijun": "李军", "zhaolei": "赵磊"}
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.005, token_wait=2.0)


def _pg_reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def temporary_pg_database(base_url: str) -> Iterator[str]:
    """Create a uniquely named database on `base_url`'s server; drop it afterwards."""
    name = f"advisor_bot_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _normalise(url: str) -> str:
    settings = load_settings(database_url=url)
    return settings.effective_database_url


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = os.environ.get("DATABASE_URL", "")
    if env.startswith("postgres"):
        url = _normalise(env)
        if not _pg_reachable(url):
            pytest.exit(f"DATABASE_URL points at PostgreSQL but it is unreachable: {env}", 2)
        with temporary_pg_database(url) as temp:
            yield temp
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated_engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def wipe(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    wipe(migrated_engine)
    yield migrated_engine
    wipe(migrated_engine)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test; skips when no server is reachable."""
    env = os.environ.get("DATABASE_URL", "")
    base = _normalise(env) if env.startswith("postgres") else DEFAULT_PG
    if not _pg_reachable(base):
        pytest.skip(f"PostgreSQL not reachable at {base}; set DATABASE_URL to run this test")
    with temporary_pg_database(base) as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    sb = Sandbox(
        corp_id=APP["corp_id"],
        secret=SECRET,
        agent_id=AGENT_ID,
        token=APP["token"],
        encoding_aes_key=APP["encoding_aes_key"],
        clock=clock,
    )
    for userid, name in ADVISORS.items():
        sb.add_member(userid, name)
    return sb


def app_settings(**overrides: Any) -> Any:
    values: dict[str, Any] = dict(
        wecom_corp_id=APP["corp_id"],
        wecom_agent_id=str(AGENT_ID),
        wecom_secret=SECRET,
        wecom_token=APP["token"],
        wecom_encoding_aes_key=APP["encoding_aes_key"],
        wecom_api_base="http://wecom.sandbox/cgi-bin",
    )
    values.update(overrides)
    return load_settings(**values)


def sandbox_http(sandbox: Sandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_sandbox_app(sandbox)),
        base_url="http://wecom.sandbox",
    )


async def make_runtime(engine: Engine, sandbox: Sandbox, clock: FakeClock, **kw: Any) -> Runtime:
    settings = kw.pop("settings", None) or app_settings()
    return build_runtime(
        settings,
        engine,
        clock=clock,
        http=sandbox_http(sandbox),
        retry=kw.pop("retry", FAST_RETRY),
        budget=kw.pop("budget", SendBudget()),
    )


@pytest.fixture
async def runtime(engine: Engine, sandbox: Sandbox, clock: FakeClock) -> AsyncIterator[Runtime]:
    rt = await make_runtime(engine, sandbox, clock)
    yield rt
    await rt.aclose()


@pytest.fixture
async def wecom(runtime: Runtime, sandbox: Sandbox) -> AsyncIterator[CallbackSender]:
    """WeCom's side, posting encrypted callbacks to the bot's ASGI app (workers driven by hand)."""
    app = create_app(runtime, run_workers=False)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")
    yield CallbackSender(sandbox, http, "http://bot/wecom/callback")
    await http.aclose()


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in SQLModel.metadata.sorted_tables
        }


# -- the shipped knowledge base and script library ------------------------------------
ROOT = Path(__file__).parents[1]
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
