"""The dispatcher: claims due outbox rows within each advisor's budget and sends them.

Most urgent first (priority, then age). A row over budget stays pending until its advisor's
window frees; a failed send is retried with jittered backoff and dead-lettered with its
reason after MAX_ATTEMPTS; a refused secret pauses sending (it is a configuration problem,
not the message's) and leaves every message queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.clock import Clock
from bot.db import session_scope
from bot.metrics import Metrics
from bot.outbox.budget import SendBudget, lock_and_load
from bot.outbox.models import OutboxAttempt, OutboxMessage
from bot.wecom import errors
from bot.wecom.client import WeComClient
from bot.work import backoff, due_rows

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=120)
CREDENTIAL_PAUSE = timedelta(seconds=60)
DUPLICATE_CHECK_SECONDS = 1800  # on re-sends only: WeCom drops an identical copy


@dataclass
class DispatchReport:
    sent: int = 0
    held: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        client: WeComClient,
        clock: Clock,
        metrics: Metrics,
        budget: SendBudget | None = None,
        batch: int = 50,
        concurrency: int = 8,
    ):
        self.engine = engine
        self.client = client
        self.clock = clock
        self.metrics = metrics
        self.budget = budget or SendBudget()
        self.batch = batch
        self.concurrency = concurrency
        self.paused_until: datetime | None = None
        self.pause_reason: str | None = None
        self.wakeup = asyncio.Event()
        self.worker_id = uuid.uuid4().hex[:12]

    def notify(self) -> None:
        self.wakeup.set()

    # -- claim -------------------------------------------------------------------------
    def _claim(self) -> tuple[list[OutboxMessage], int]:
        now = self.clock.now()
        with session_scope(self.engine) as session:
            rows = due_rows(
                session,
                OutboxMessage,
                now=now,
                active_status="sending",
                limit=self.batch,
                order_by=[OutboxMessage.priority, OutboxMessage.id],
            )
            usage = lock_and_load(session, {r.recipient for r in rows}, now)
            claimed, held = [], 0
            for row in rows:
                free_at = usage[row.recipient].next_free(now, self.budget)
                if free_at is not None:
                    row.status = "pending"
                    row.next_attempt_at = free_at
                    row.lease_until = None
                    held += 1
                else:
                    assert row.id is not None
                    usage[row.recipient].spend(now)
                    row.status = "sending"
                    row.lease_until = now + LEASE
                    row.attempts += 1
                    session.add(
                        OutboxAttempt(message_id=row.id, recipient=row.recipient, started_at=now)
                    )
                    claimed.append(row)
                session.add(row)
        if held:
            log.info("outbox messages held by the send budget", extra={"held": held})
        return claimed, held

    # -- send --------------------------------------------------------------------------
    async def _send(self, row: OutboxMessage) -> dict[str, Any]:
        payload = dict(row.payload)
        if row.msg_type == "update_template_card":
            return await self.client.update_template_card(userids=[row.recipient], **payload)
        dup = DUPLICATE_CHECK_SECONDS if row.attempts > 1 and row.msg_type != "template_card" else 0
        return await self.client.send_message(
            row.recipient, row.msg_type, payload, duplicate_check_seconds=dup
        )

    def _record(self, row_id: int, result: dict[str, Any] | None, exc: Exception | None) -> str:
        """Write the outcome of one send; returns sent|retry|dead|paused."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, row_id, with_for_update=True)
            attempt = session.exec(
                select(OutboxAttempt)
                .where(OutboxAttempt.message_id == row_id)
                .order_by(OutboxAttempt.id.desc())  # type: ignore[union-attr]
            ).first()
            if row is None:
                return "dead"
            errcode = 0 if exc is None else getattr(exc, "errcode", None)
            if attempt is not None:
                attempt.errcode = errcode
                attempt.error = None if exc is None else str(exc)[:1000]
                session.add(attempt)
            row.lease_until = None
            row.last_errcode = errcode
            already_delivered = (
                isinstance(exc, errors.WeComRequestError)
                and exc.errcode == 42014
                and row.attempts > 1
            )
            if exc is None or already_delivered:
                row.status, row.sent_at, row.last_error = "sent", now, None
                if result:
                    row.wecom_msgid = result.get("msgid") or None
                    row.response_code = result.get("response_code") or None
                outcome = "sent"
            elif isinstance(exc, errors.WeComCredentialError):
                row.status, row.next_attempt_at = "pending", now + CREDENTIAL_PAUSE
                row.attempts -= 1  # not the message's fault
                row.last_error = str(exc)
                outcome = "paused"
            elif not getattr(exc, "retryable", True) or row.attempts >= MAX_ATTEMPTS:
                row.status, row.last_error = "dead", f"{type(exc).__name__}: {exc}"[:2000]
                outcome = "dead"
            else:
                row.status = "pending"
                row.next_attempt_at = now + backoff(row.attempts, base=5, cap=600)
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                outcome = "retry"
            session.add(row)
            return outcome

    async def _send_one(self, row: OutboxMessage, report: DispatchReport) -> None:
        assert row.id is not None
        result: dict[str, Any] | None = None
        error: Exception | None = None
        try:
            result = await self._send(row)
        except errors.WeComError as exc:
            error = exc
        self.metrics.sends.labels(
            errcode=str(0 if error is None else getattr(error, "errcode", ""))
        ).inc()
        outcome = await anyio.to_thread.run_sync(self._record, row.id, result, error)
        if outcome == "sent":
            report.sent += 1
        elif outcome == "retry":
            report.retried += 1
        elif outcome == "dead":
            report.dead += 1
            log.error(
                "outbox message dead-lettered",
                extra={"outbox_id": row.id, "recipient": row.recipient, "error": str(error)},
            )
        if error is not None:
            report.errors.append(str(error))
        if outcome == "paused":
            self.paused_until = self.clock.now() + CREDENTIAL_PAUSE
            self.pause_reason = str(error)
            log.error(
                "WeCom rejected the app credentials; sending paused. Check WECOM_CORP_ID "
                "and WECOM_SECRET",
                extra={"error": str(error)},
            )

    async def run_once(self) -> DispatchReport:
        """Claim and send one batch; returns what happened."""
        report = DispatchReport()
        if self.paused_until is not None and self.clock.now() < self.paused_until:
            return report
        self.paused_until = self.pause_reason = None
        rows, report.held = await anyio.to_thread.run_sync(self._claim)
        limiter = anyio.Semaphore(self.concurrency)

        async def bounded(row: OutboxMessage) -> None:
            async with limiter:
                await self._send_one(row, report)

        async with anyio.create_task_group() as tg:
            for row in rows:
                tg.start_soon(bounded, row)
        return report

    async def drain(self, *, max_rounds: int = 100) -> DispatchReport:
        """Send until nothing more is due now (the budget may still hold some back)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = await self.run_once()
            total.sent += report.sent
            total.held += report.held
            total.retried += report.retried
            total.dead += report.dead
            total.errors += report.errors
            # Held rows were moved out of the way: another round may find other advisors' rows.
            if not (report.sent or report.retried or report.dead or report.held):
                break
        return total

    async def run_forever(self, *, idle_seconds: float = 1.0) -> None:
        while True:
            try:
                report = await self.run_once()
                busy = report.sent or report.retried or report.dead
            except Exception:
                log.exception("dispatcher cycle failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), idle_seconds)
                self.wakeup.clear()
