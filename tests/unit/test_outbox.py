"""The outbox's bulk emit, the relay's rounds and the relay producer's spans, on an in-memory SQLite database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Sequence
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, create_engine, select

from shared.kernel.events import ORGANIZATION_STATUS_CHANGED, SIGNING_KEY_PUBLISHED, SigningKeyPublished
from shared.platform.bus import Publishers
from shared.platform.outbox import OutboxEvent, OutboxRelay, Unsent, emit, emit_many


@pytest.fixture
def engine() -> Engine:
    engine = create_engine("sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool)
    SQLModel.metadata.create_all(engine, tables=[OutboxEvent.__table__])  # type: ignore[attr-defined]
    return engine


def key(n: int) -> SigningKeyPublished:
    return SigningKeyPublished(key_id=f"33-{n}", province="33", public_key="AAAA", valid_from="2026-01-01")


def test_emit_many_adds_each_event_in_the_order_given_and_in_order_with_single_emits(engine: Engine) -> None:
    with Session(engine) as session:
        emit(session, SIGNING_KEY_PUBLISHED, province="33", subject="first", payload=key(0))
        added = emit_many(
            session, SIGNING_KEY_PUBLISHED, province="33", events=[(f"k{n}", key(n)) for n in range(1, 4)]
        )
        emit(session, SIGNING_KEY_PUBLISHED, province="33", subject="last", payload=key(4))
        session.rollback()  # not committed: nothing stays
        assert session.exec(select(OutboxEvent)).all() == []
        emit_many(session, SIGNING_KEY_PUBLISHED, province="33", events=[(f"k{n}", key(n)) for n in range(3)])
        session.commit()
        rows = session.exec(select(OutboxEvent).order_by(col(OutboxEvent.seq))).all()
    assert added == 3
    assert [SIGNING_KEY_PUBLISHED.parse(row.body).payload.key_id for row in rows] == ["33-0", "33-1", "33-2"]
    assert len({row.event_id for row in rows}) == 3 and all(row.sent_at is None for row in rows)


def test_the_relay_publishes_in_sequence_marks_sent_and_republishes_what_was_not_acknowledged(engine: Engine) -> None:
    with Session(engine) as session:
        emit_many(session, SIGNING_KEY_PUBLISHED, province="33", events=[(f"k{n}", key(n)) for n in range(5)])
        session.commit()
    published: list[list[str]] = []
    failing = True

    async def publish(rows: Sequence[Unsent]) -> list[Awaitable[Any]]:
        published.append([row.key for row in rows])
        acknowledgement: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if failing:
            acknowledgement.set_exception(ConnectionError("broker gone"))
        else:
            acknowledgement.set_result(None)
        return [acknowledgement]

    relay = OutboxRelay(engine, publish, batch=3)

    async def rounds() -> list[int]:
        nonlocal failing
        with pytest.raises(ConnectionError):
            await relay.relay_pending()
        failing = False
        return [await relay.relay_pending() for _ in range(3)]

    assert asyncio.run(rounds()) == [3, 2, 0]
    assert published == [["k0", "k1", "k2"], ["k0", "k1", "k2"], ["k3", "k4"]]  # the unacknowledged round again
    with Session(engine) as session:
        assert all(row.sent_at is not None for row in session.exec(select(OutboxEvent)))


class Producer:
    """Stands in for the relay's AIOKafkaProducer: records what is sent, acknowledges at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []

    async def send(self, topic: str, value: bytes, *, key: bytes, headers: list[tuple[str, bytes]]) -> Awaitable[None]:
        self.sent.append((topic, key, dict(headers)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_the_relay_gives_each_transactions_events_one_publish_span_that_their_messages_continue(
    engine: Engine,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with Session(engine) as session:
        for request in ("first", "second"):
            with tracer.start_as_current_span(f"{request} request"):
                emit_many(session, SIGNING_KEY_PUBLISHED, province="33", events=[(request, key(n)) for n in range(3)])
        session.commit()
    publishers = Publishers(
        KafkaBroker(),
        "33",
        [SIGNING_KEY_PUBLISHED, ORGANIZATION_STATUS_CHANGED],
        root="t",
        bootstrap="127.0.0.1:1",
        client_id="test",
        tracer_provider=provider,
    )
    producer = Producer()
    publishers._producer = producer
    relay = OutboxRelay(engine, publishers.publish)
    assert asyncio.run(relay.relay_pending()) == 6

    spans = {span.name: span for span in exporter.get_finished_spans()}
    topic = SIGNING_KEY_PUBLISHED.topic("33", "t")
    publishes = [span for span in exporter.get_finished_spans() if span.name == f"{topic} publish"]
    assert len(publishes) == 2  # one a transaction, not one an event
    for request, publish in zip(("first", "second"), publishes, strict=True):
        assert publish.parent is not None and publish.parent.span_id == spans[f"{request} request"].context.span_id
        assert publish.attributes is not None and publish.attributes["messaging.batch.message_count"] == 3
        assert publish.kind is trace.SpanKind.PRODUCER
    parents = [headers["traceparent"].decode()[:52] for _topic, _key, headers in producer.sent]
    expected = [f"00-{p.context.trace_id:032x}-{p.context.span_id:016x}" for p in publishes for _ in range(3)]
    assert parents == expected
    assert {headers["event-type"] for _t, _k, headers in producer.sent} == {SIGNING_KEY_PUBLISHED.type.encode()}
    assert all(uuid.UUID(headers["event-id"].decode()) for _t, _k, headers in producer.sent)
