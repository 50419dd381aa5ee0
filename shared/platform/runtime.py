"""The live parts of one service instance: broker, database, outbox relay, clock, and its consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from sqlalchemy import Engine
from sqlmodel import Session

from shared.kernel.clock import Clock
from shared.kernel.events import Envelope, EventContract
from shared.platform.bus import (
    Consumer,
    Publishers,
    Retrying,
    group_id,
    instance_consumer,
    make_broker,
    subscribe,
)
from shared.platform.db import for_changes, make_engine
from shared.platform.outbox import OutboxRelay, apply_once
from shared.platform.settings import ServiceSettings
from shared.platform.telemetry import make_tracer_provider
from shared.platform.unit import Unit

log = logging.getLogger(__name__)
S = TypeVar("S", bound=ServiceSettings)
C = TypeVar("C")
T = TypeVar("T")


@dataclass
class Runtime(Generic[S]):
    """The live parts of one service instance, kept on `app.state.runtime`."""

    settings: S
    broker: KafkaBroker
    tracer_provider: TracerProvider
    clock: Clock
    engine: Engine | None = None
    relay: OutboxRelay | None = None
    publishers: Publishers | None = None
    topics: list[str] = field(default_factory=list)
    readiness_checks: list[Callable[[], Awaitable[tuple[str, bool]]]] = field(default_factory=list)
    on_start: list[Callable[[], Any]] = field(default_factory=list)
    on_stop: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def db(self) -> Engine:
        assert self.engine is not None, "this service has no SQL database"
        return self.engine

    @property
    def db_for_changes(self) -> Engine:
        """The engine of a unit that changes something (shared.platform.db.for_changes)."""
        return for_changes(self.db)

    @contextlib.contextmanager
    def unit_of_change(self) -> Iterator[Unit[S]]:
        """A unit that changes something in a transaction of its own, committed when the block ends: the edge
        of scheduled work (a request's is shared.platform.deps, an event's `apply_once`)."""
        with Session(self.db_for_changes) as session, session.begin():
            yield self.unit(session, changing=True)

    def unit(self, session: Session, *, changing: bool = False) -> Unit[S]:
        return Unit(
            session=session,
            today=self.clock.today(),
            settings=self.settings,
            policy=self.settings.policy,
            changing=changing,
        )

    def consume(self, consumer: Consumer[Unit[S]]) -> None:
        """Subscribes each of `consumer`'s handlers; each event is applied once, in its own transaction."""
        for handling in consumer.handlings:
            handler = handling.handler
            if handling.together is not None:
                raise ValueError(
                    f"{consumer.name}: events applied once each, in a transaction, are not applied together"
                )

            async def apply(
                envelope: Envelope[Any], handler: Callable[[Unit[S], Envelope[Any]], Any] = handler
            ) -> None:
                await self.apply_once(consumer.name, envelope, lambda unit: handler(unit, envelope))

            self._subscribe(handling.contract, consumer.name, apply, all_provinces=handling.all_provinces)

    def consume_into(self, consumer: Consumer[C], context: C, *, instance: str) -> dict[str, str]:
        """Subscribes `consumer`'s async handlers, each given `context`; `instance` names the consumer's groups
        (the query service's read model). Returns the group id of each contract's type."""
        groups = {}
        for handling in consumer.handlings:
            handler = handling.handler

            async def apply(envelope: Envelope[Any], handler: Callable[[C, Envelope[Any]], Any] = handler) -> None:
                await handler(context, envelope)

            apply_together = None
            if (together := handling.together) is not None:

                async def apply_together(
                    envelopes: list[Envelope[Any]],
                    together: Callable[[C, list[Envelope[Any]]], Awaitable[Any]] = together,
                ) -> None:
                    await together(context, envelopes)

            groups[handling.contract.type] = self._subscribe(
                handling.contract,
                instance_consumer(consumer.name, instance),
                apply,
                all_provinces=handling.all_provinces,
                dead_letters_of=consumer.name,
                together=apply_together,
            )
        return groups

    def _subscribe(
        self,
        contract: EventContract[Any],
        consumer: str,
        handler: Callable[[Envelope[Any]], Awaitable[None]],
        *,
        all_provinces: bool,
        dead_letters_of: str | None = None,
        together: Callable[[list[Envelope[Any]]], Awaitable[None]] | None = None,
    ) -> str:
        settings = self.settings
        group = group_id(root=settings.topic_root, province=settings.province, consumer=consumer, contract=contract)
        self.topics += subscribe(
            self.broker,
            contract,
            province=settings.province,
            consumer=dead_letters_of or consumer,
            group_id=group,
            handler=handler,
            root=settings.topic_root,
            tracer_provider=self.tracer_provider,
            all_provinces=all_provinces,
            retrying=Retrying(
                max_attempts=settings.consumer_max_attempts, first_pause=settings.consumer_first_pause_seconds
            ),
            together=together,
        )
        return group

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def apply_once(self, consumer: str, envelope: Envelope[Any], apply: Callable[[Unit[S]], T]) -> T | None:
        """Applies an event exactly once (see shared.platform.outbox.apply_once) off the event loop."""
        result = await asyncio.to_thread(
            apply_once,
            self.db_for_changes,
            consumer,
            envelope.id,
            lambda session: apply(self.unit(session, changing=True)),
        )
        self.wake_relay()
        return result


def build_runtime(
    settings: S,
    *,
    produces: Iterable[EventContract[Any]] = (),
    consumer: Consumer[Unit[S]] | None = None,
    with_database: bool = True,
    exporter: SpanExporter | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Runtime[S]:
    """A service with a database loads its province's policy now: it refuses to start without a valid one."""
    provider = tracer_provider or make_tracer_provider(
        f"{settings.province}-{settings.service_name}",
        settings.province,
        otlp_endpoint=settings.otlp_endpoint,
        exporter=exporter,
        sample_ratio=settings.trace_sample_ratio,
    )
    broker = make_broker(
        settings.kafka_bootstrap,
        client_id=settings.client_id,
        tracer_provider=provider,
        description=f"skillcert {settings.service_name}, province {settings.province}",
        metadata_max_age_ms=settings.topic_refresh_ms,
    )
    runtime = Runtime(
        settings=settings, broker=broker, tracer_provider=provider, clock=Clock(settings.clock_offset_file)
    )
    if with_database:
        settings.policy  # noqa: B018 - loads and validates the policy file
        runtime.engine = make_engine(settings.sqlalchemy_url)
    contracts = list(produces)
    if contracts:
        runtime.publishers = Publishers(
            broker,
            settings.province,
            contracts,
            root=settings.topic_root,
            bootstrap=settings.kafka_bootstrap,
            client_id=settings.client_id,
            tracer_provider=provider,
        )
        runtime.topics += runtime.publishers.topics
        runtime.relay = OutboxRelay(runtime.db, runtime.publishers.publish, poll_seconds=settings.outbox_poll_seconds)
    if consumer is not None:
        runtime.consume(consumer)
    return runtime
