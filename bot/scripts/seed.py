"""Loading the seed library (`scripts_library/`) into the database at start-up.

The files are the reviewed source of truth shipped with the release: lint must pass, and each
(id, version) not yet in the database is inserted with the governance fields as written
(audited as `seed`). A version already present is left alone if identical; a file that
changes an approved version is refused (a change must be a new version).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.compliance.check import Checker
from bot.config import ConfigError
from bot.db import session_scope
from bot.knowledge.base import Knowledge
from bot.scripts import service
from bot.scripts.library import lint, read_library


def seed_library(
    engine: Engine, *, directory: Path, knowledge: Knowledge, checker: Checker, clock: Clock
) -> dict[str, int]:
    """Lint and load the library; ConfigError (naming BOT_SCRIPTS_DIR) on any problem."""
    problems = lint(directory, knowledge, checker)
    if problems:
        raise ConfigError([f"BOT_SCRIPTS_DIR: {p}" for p in problems])
    scripts, _ = read_library(directory)
    counts = {"inserted": 0, "unchanged": 0, "updated": 0}
    with session_scope(engine) as session:
        for loaded in scripts:
            try:
                outcome = service.upsert_record(
                    session, clock=clock, record=loaded.record, action="seed", actor="library"
                )
            except service.ScriptError as exc:
                raise ConfigError(
                    [f"BOT_SCRIPTS_DIR: {loaded.file}:{loaded.line}: {exc}"]
                ) from None
            counts[outcome] += 1
    return counts
