"""The inbox: accepted pushes are stored before acknowledgement, then processed exactly once.

`accept` runs in the request: it stores the push (or recognises a retry by its dedupe key)
and, for messages that have an instant answer, handles them in the same transaction so the
answer can go back as a passive reply. `InboxProcessor` handles everything else after the
acknowledgement; a row whose processing died is claimed again when its lease lapses.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import anyio
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from bot.clock import Clock
from bot.db import session_scope
from bot.wecom.inbound import Inbound
from bot.wecom.models import InboxMessage
from bot.work import backoff, due_rows

log = logging.getLogger(__name__)
_TABLE: sa.Table = InboxMessage.__table__  # type: ignore[attr-defined]

MAX_ATTEMPTS = 5
LEASE = timedelta(seconds=60)


class InboxHandlers(Protocol):
    """What the assistant provides to the inbox."""

    def instant_reply(self, session: Session, inbound: Inbound) -> str | None:
        """For a message (never an event): the answer to give now as a passive reply, writing
        any effects to `session`; None to defer the message to `handle`."""
        ...

    async def prepare(self, inbound: Inbound) -> object:
        """Fetch what handling needs from outside (WeCom API) before the transaction."""
        ...

    def handle(self, session: Session, inbound: Inbound, prepared: object) -> None:
        """Apply the push's effects inside the transaction that marks it done."""
        ...


@dataclass(frozen=True)
class Accepted:
    inbox_id: int
    duplicate: bool
    passive_reply: str | None


@functools.cache
def _insert_ignoring_duplicates(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = _TABLE
    return insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)


def accept(
    conn: Connection, *, inbound: Inbound, handlers: InboxHandlers, clock: Clock
) -> Accepted:
    """Store `inbound` unless already stored; answer instantly when the handlers can.

    One INSERT .. ON CONFLICT DO NOTHING decides, under the unique dedupe key, whether this is
    the first delivery: retries and concurrent deliveries of the same push find the first one.
    Runs on a plain connection (the hot path); an ORM session on the same transaction is
    opened only for an instant answer.
    """
    table = _TABLE
    now = clock.now()
    inserted = conn.execute(
        _insert_ignoring_duplicates(conn.dialect.name),
        {
            "dedupe_key": inbound.dedupe_key,
            "msg_type": inbound.msg_type,
            "event": inbound.event,
            "from_user": inbound.from_user,
            "plaintext": inbound.plaintext,
            "status": "pending",
            "attempts": 0,
            "received_at": now,
            "next_attempt_at": now,
        },
    ).scalar_one_or_none()
    if inserted is None:
        first = conn.execute(
            sa.select(table.c.id, table.c.passive_reply).where(
                table.c.dedupe_key == inbound.dedupe_key
            )
        ).one()
        return Accepted(first.id, True, first.passive_reply)
    if inbound.msg_type == "event":
        return Accepted(inserted, False, None)
    with Session(bind=conn, expire_on_commit=False) as session:
        reply = handlers.instant_reply(session, inbound)
        session.flush()
    if reply is not None:
        conn.execute(
            sa.update(table)
            .where(table.c.id == inserted)
            .values(passive_reply=reply, status="done", processed_at=now)
        )
    return Accepted(inserted, False, reply)


def pending_count(session: Session) -> int:
    stmt = (
        select(sa.func.count())
        .select_from(InboxMessage)
        .where(
            InboxMessage.status.in_(("pending", "processing"))  # type: ignore[attr-defined]
        )
    )
    return int(session.exec(stmt).one())


class InboxProcessor:
    """Processes stored pushes: claim, prepare outside the transaction, apply and mark done."""

    def __init__(
        self,
        *,
        engine: Engine,
        handlers: InboxHandlers,
        clock: Clock,
        on_effects: Callable[[], Awaitable[None] | None] | None = None,
        batch: int = 20,
    ):
        self.engine = engine
        self.handlers = handlers
        self.clock = clock
        self.batch = batch
        self.on_effects = on_effects
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        self.wakeup.set()

    def _claim(self) -> list[InboxMessage]:
        now = self.clock.now()
        with session_scope(self.engine) as session:
            rows = due_rows(
                session,
                InboxMessage,
                now=now,
                active_status="processing",
                limit=self.batch,
                order_by=[InboxMessage.id],
            )
            for row in rows:
                row.status = "processing"
                row.lease_until = now + LEASE
                row.attempts += 1
                session.add(row)
            return rows

    def _complete(self, row_id: int, inbound: Inbound, prepared: object) -> None:
        with session_scope(self.engine) as session:
            row = session.get(InboxMessage, row_id, with_for_update=True)
            if row is None or row.status != "processing":
                return  # another worker took it over after our lease lapsed
            self.handlers.handle(session, inbound, prepared)
            row.status = "done"
            row.processed_at = self.clock.now()
            row.lease_until = None
            row.last_error = None
            session.add(row)

    def _fail(self, row_id: int, error: str) -> None:
        with session_scope(self.engine) as session:
            row = session.get(InboxMessage, row_id, with_for_update=True)
            if row is None:
                return
            row.last_error = error[:2000]
            row.lease_until = None
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
                log.error(
                    "inbox message failed for good", extra={"inbox_id": row_id, "error": error}
                )
            else:
                row.status = "pending"
                row.next_attempt_at = self.clock.now() + backoff(row.attempts, base=2, cap=300)
            session.add(row)

    async def run_once(self) -> int:
        """Process what is due now; returns how many pushes were handled."""
        from bot.wecom.inbound import parse_xml

        rows = await anyio.to_thread.run_sync(self._claim)
        handled = 0
        for row in rows:
            assert row.id is not None
            inbound = Inbound(plaintext=row.plaintext, fields=parse_xml(row.plaintext))
            try:
                prepared = await self.handlers.prepare(inbound)
                await anyio.to_thread.run_sync(self._complete, row.id, inbound, prepared)
                handled += 1
            except Exception as exc:  # a handler bug must not stop the inbox
                log.exception("inbox handling failed", extra={"inbox_id": row.id})
                await anyio.to_thread.run_sync(self._fail, row.id, f"{type(exc).__name__}: {exc}")
        if handled and self.on_effects is not None:
            result = self.on_effects()
            if result is not None:
                await result
        return handled

    async def run_forever(self, *, idle_seconds: float = 1.0) -> None:
        while True:
            try:
                handled = await self.run_once()
            except Exception:
                log.exception("inbox processor cycle failed")
                handled = 0
            if not handled:
                with anyio.move_on_after(idle_seconds):
                    await self.wakeup.wait()
                self.wakeup = asyncio.Event()
