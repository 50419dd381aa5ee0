"""Transactional outbox and idempotent consumption.

A producing service adds its event to `outbox_event` in the same transaction as the change
(`emit`); `OutboxRelay` publishes unsent rows in order and marks them sent. A consumer applies
an event and records its id in `processed_event` in one transaction (`apply_once`), so a replayed
event changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import Engine, Index, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import JSON, Column, Field, Session, SQLModel, col

from shared.kernel.clock import utcnow
from shared.kernel.events import Envelope, EventContract

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_unsent", "sent_at", "seq"),)

    seq: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID = Field(unique=True)
    event_type: str
    key: str
    body: str
    headers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    consumer: str = Field(primary_key=True)
    event_id: uuid.UUID = Field(primary_key=True)
    processed_at: datetime = Field(default_factory=utcnow)


def emit(session: Session, contract: EventContract[P], *, province: str, subject: str, payload: P) -> Envelope[P]:
    """Adds the event to the caller's transaction, keyed by its subject (or province: `EventContract.key`), with
    the current trace context."""
    envelope = contract.make(province=province, subject=subject, payload=payload)
    _insert(session, [_row(contract, envelope, province=province, headers=_trace_headers())])
    return envelope


def emit_many(session: Session, contract: EventContract[P], *, province: str, events: Iterable[tuple[str, P]]) -> int:
    """Adds one event per (subject, payload) to the caller's transaction as `emit` does, in one bulk insert: a
    batch's hundreds of certificates are one statement, not an ORM object each. Returns how many."""
    headers = _trace_headers()
    rows = [
        _row(contract, contract.make(province=province, subject=subject, payload=payload), province, headers)
        for subject, payload in events
    ]
    _insert(session, rows)
    return len(rows)


def _trace_headers() -> dict[str, str]:
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def _row(
    contract: EventContract[Any], envelope: Envelope[Any], province: str, headers: dict[str, str]
) -> dict[str, Any]:
    return {
        "event_id": envelope.id,
        "event_type": envelope.type,
        "key": contract.key(province=province, subject=envelope.subject),
        "body": envelope.model_dump_json(),
        "headers": headers,
        "created_at": utcnow(),
        "sent_at": None,
    }


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    # Straight into the table in the session's transaction: sequence numbers follow the order of emission.
    if rows:
        session.connection().execute(insert(OutboxEvent.__table__), rows)  # type: ignore[attr-defined]


def apply_once(engine: Engine, consumer: str, event_id: uuid.UUID, apply: Callable[[Session], T]) -> T | None:
    """Runs `apply` and records the event as processed in one transaction; None if already processed."""
    with Session(engine) as session:
        if session.get(ProcessedEvent, (consumer, event_id)) is not None:
            return None
        result = apply(session)
        session.add(ProcessedEvent(consumer=consumer, event_id=event_id))
        try:
            session.commit()
        except IntegrityError:
            # A concurrent delivery of the same event won the race; its transaction stands, ours is void.
            session.rollback()
            if session.get(ProcessedEvent, (consumer, event_id)) is not None:
                return None
            raise
        return result


@dataclass(frozen=True)
class Unsent:
    """An outbox row the relay is to publish: what goes on the topic, and its place in the sequence."""

    seq: int
    event_id: uuid.UUID
    event_type: str
    key: str
    body: str
    headers: dict[str, str]


# Hands the rows to the producer in order; returns the broker's acknowledgements to await.
Publish = Callable[[Sequence[Unsent]], Awaitable[list[Awaitable[Any]]]]


class OutboxRelay:
    """Publishes unsent outbox rows in sequence order, then marks them sent.

    A crash between publish and mark publishes the row again on restart: delivery is at least once and
    every consumer is idempotent on the event id. A round takes up to `batch` rows and has them all in flight
    at once (the producer is idempotent, so order per partition holds), then marks them sent in one statement.
    """

    def __init__(self, engine: Engine, publish: Publish, *, poll_seconds: float = 0.5, batch: int = 2000):
        self.engine = engine
        self.publish = publish
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def wake(self) -> None:
        """Called after a commit that recorded events, so they go out without waiting for the poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.relay_pending()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep relaying after a broker or database hiccup
                log.exception("outbox relay failed; retrying")
                self.last_error = repr(error)
                sent = 0
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                self._wake.clear()

    async def relay_pending(self) -> int:
        rows = await asyncio.to_thread(self._unsent)
        if not rows:
            return 0
        acknowledgements = await self.publish(rows)
        await asyncio.gather(*acknowledgements)  # all acknowledged (acks=all) before marking sent
        await asyncio.to_thread(self._mark_sent, [row.seq for row in rows])
        return len(rows)

    def _unsent(self) -> list[Unsent]:
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        statement = (
            select(table.c.seq, table.c.event_id, table.c.event_type, table.c.key, table.c.body, table.c.headers)
            .where(table.c.sent_at.is_(None))
            .order_by(table.c.seq)
            .limit(self.batch)
        )
        with self.engine.connect() as connection:
            return [Unsent(*row) for row in connection.execute(statement)]

    def _mark_sent(self, seqs: list[int]) -> None:
        with Session(self.engine) as session:
            session.exec(update(OutboxEvent).where(col(OutboxEvent.seq).in_(seqs)).values(sent_at=utcnow()))
            session.commit()
