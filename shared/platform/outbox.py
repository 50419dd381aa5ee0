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
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import Engine, Index, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, select

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
    headers: dict[str, str] = {}
    propagate.inject(headers)
    session.add(
        OutboxEvent(
            event_id=envelope.id,
            event_type=envelope.type,
            key=contract.key(province=province, subject=subject),
            body=envelope.model_dump_json(),
            headers=headers,
        )
    )
    return envelope


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


Publish = Callable[[OutboxEvent], Awaitable[Awaitable[Any]]]


class OutboxRelay:
    """Publishes unsent outbox rows in sequence order, then marks them sent.

    A crash between publish and mark publishes the row again on restart: delivery is at least once and
    every consumer is idempotent on the event id.
    """

    def __init__(self, engine: Engine, publish: Publish, *, poll_seconds: float = 0.5, batch: int = 500):
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
        acknowledgements = []
        for row in rows:
            token = otel_context.attach(propagate.extract(row.headers))
            try:
                acknowledgements.append(await self.publish(row))
            finally:
                otel_context.detach(token)
        await asyncio.gather(*acknowledgements)  # all acknowledged (acks=all) before marking sent
        await asyncio.to_thread(self._mark_sent, [row.seq for row in rows if row.seq is not None])
        return len(rows)

    def _unsent(self) -> list[OutboxEvent]:
        with Session(self.engine) as session:
            statement = (
                select(OutboxEvent)
                .where(col(OutboxEvent.sent_at).is_(None))
                .order_by(col(OutboxEvent.seq))
                .limit(self.batch)
            )
            return list(session.exec(statement))

    def _mark_sent(self, seqs: list[int]) -> None:
        with Session(self.engine) as session:
            session.exec(update(OutboxEvent).where(col(OutboxEvent.seq).in_(seqs)).values(sent_at=utcnow()))
            session.commit()
