"""The Kafka bus: the broker every service uses, its documented publishers, and safe subscribers.

Producers are idempotent with acks=all. Subscribers commit offsets only after their handler finished
(`AckPolicy.NACK_ON_ERROR`: an error rewinds to the message, so nothing accepted is lost). A message
that fails validation goes to the consumer's dead-letter topic with the reason, and consumption goes on.
A message the handler cannot apply is tried again after a growing pause: when the failure is not the
event's fault (`is_transient`: the database, the broker or Redis unavailable, `RetryLater`) for as long as it
lasts; otherwise (a bug or an event that makes no sense) `max_attempts` times, then it is dead-lettered with
the reason and the partition goes on. `infra.dead_letters` lists dead letters and re-drives them once fixed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, TracerProvider
from pydantic import BaseModel, ValidationError
from redis import exceptions as redis_errors
from sqlalchemy import exc as sql_errors

from shared.kernel.errors import RetryLater
from shared.kernel.events import Envelope, EventContract, EventTypeMismatch, dead_letter_topic
from shared.platform.outbox import Unsent

log = logging.getLogger(__name__)
C = TypeVar("C")
P = TypeVar("P", bound=BaseModel)
R = TypeVar("R")


def group_id(*, root: str, province: str, consumer: str, contract: EventContract[Any]) -> str:
    """The one rule for consumer groups: one group per consumer and topic, so each topic's offsets and
    rebalances stay independent, and a separate topic root (environment) gets groups of its own."""
    return f"{root}-{province}-{consumer}-{contract.name}"


def instance_consumer(consumer: str, instance: str) -> str:
    """The consumer name of one instance of a consumer (the query service's read model): its groups are its own."""
    return f"{consumer}-{instance}"


@dataclass(frozen=True)
class Handling(Generic[C]):
    """One declared handler: the contract it consumes, from this province or from every province."""

    contract: EventContract[Any]
    handler: Callable[[C, Envelope[Any]], Any]
    all_provinces: bool
    # Applies a fetched batch of these events at once (`Consumer.together`); `handler` stays the way one event is
    # applied, which a batch falls back to when it fails.
    together: Callable[[C, list[Envelope[Any]]], Awaitable[Any]] | None = None


class Consumer(Generic[C]):
    """A service's consumers, declared at module level in its flows.py (FastStream's style, with the
    subscription details decided here once):

        consumer: Consumer[Unit] = Consumer("registry")

        @consumer.on(SANCTION_IMPOSED)
        def on_sanction_imposed(unit: Unit, event: Envelope[SanctionImposed]) -> None: ...

    `C` is what each handler gets besides the event: a `Unit` for a service with a database (the handler
    runs in `apply_once`), the read model for the query service.
    """

    def __init__(self, name: str):
        self.name = name
        self.handlings: list[Handling[C]] = []

    def on(
        self, contract: EventContract[P], *, all_provinces: bool = False
    ) -> Callable[[Callable[[C, Envelope[P]], R]], Callable[[C, Envelope[P]], R]]:
        def declare(handler: Callable[[C, Envelope[P]], R]) -> Callable[[C, Envelope[P]], R]:
            if any(h.contract.type == contract.type for h in self.handlings):
                raise ValueError(f"{self.name} already consumes {contract.type}: one handler per contract")
            self.handlings.append(Handling(contract, handler, all_provinces))
            return handler

        return declare

    def together(
        self, contract: EventContract[P]
    ) -> Callable[[Callable[[C, list[Envelope[P]]], Awaitable[R]]], Callable[[C, list[Envelope[P]]], Awaitable[R]]]:
        """Declares how a batch of the events of a contract already consumed (`on`) is applied at once, where one
        write for many is much cheaper than one each (the query service's Redis). It must come to what `on`'s
        handler would, event after event. When it fails, the batch is applied event by event as usual, so one event
        that cannot be applied is tried again and dead-lettered alone."""

        def declare(
            handler: Callable[[C, list[Envelope[P]]], Awaitable[R]],
        ) -> Callable[[C, list[Envelope[P]]], Awaitable[R]]:
            positions = [i for i, h in enumerate(self.handlings) if h.contract.type == contract.type]
            if not positions:
                raise ValueError(f"{self.name} does not consume {contract.type}: declare `on` first")
            [position] = positions
            self.handlings[position] = replace(self.handlings[position], together=handler)
            return handler

        return declare

    @property
    def contracts(self) -> list[EventContract[Any]]:
        return [h.contract for h in self.handlings]


class EventTooEarly(RetryLater, RuntimeError):
    """The event depends on another, on a different topic, that has not been applied yet; it is delivered
    again after a pause (topics are not ordered among each other). Unlike an outage, the wait is bounded
    (`TOO_EARLY_ATTEMPTS`): an event whose prerequisite never comes is dead-lettered, to be re-driven."""


# Failures that are not the event's fault: it is tried again, with a growing pause, for as long as they last.
TRANSIENT: tuple[type[BaseException], ...] = (
    RetryLater,
    OSError,  # ConnectionError, TimeoutError
    KafkaError,
    sql_errors.OperationalError,  # "database is locked", the server gone
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,  # the connection pool
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
)
MAX_ATTEMPTS = 5  # an error that is the event's own: tries before it is dead-lettered
TOO_EARLY_ATTEMPTS = 40  # about a quarter of an hour of waiting for another topic
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 30.0


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


@dataclass(frozen=True)
class Retrying:
    """How a subscriber tries a message again (tests shorten the pauses)."""

    max_attempts: int = MAX_ATTEMPTS
    too_early_attempts: int = TOO_EARLY_ATTEMPTS
    first_pause: float = FIRST_PAUSE_SECONDS
    longest_pause: float = LONGEST_PAUSE_SECONDS

    def pause(self, attempts: int) -> float:
        return float(min(self.longest_pause, self.first_pause * 2 ** (attempts - 1)))

    def gives_up(self, error: BaseException, attempts: int) -> bool:
        """Whether the `attempts`-th failure with `error` sends the message to the dead letters."""
        if isinstance(error, EventTooEarly):
            return attempts >= self.too_early_attempts
        return not is_transient(error) and attempts >= self.max_attempts


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    *,
    partitions: int,
    replication: int,
    client_id: str,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Creates missing topics before anyone subscribes, with their `configs` (compaction) when given.

    A consumer that subscribes to a topic that does not exist yet may be assigned only the partitions its
    first metadata showed, and would not see the others until the next refresh (minutes).
    """
    configs = configs or {}
    wanted = sorted(set(topics))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client_id)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(topic, num_partitions=partitions, replication_factor=replication, topic_configs=configs.get(topic))
            for topic in wanted
            if topic not in existing
        ]
        if missing:
            # Another service may create the same topic in between; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


Handler = Callable[[Envelope[Any]], Awaitable[None]]
BatchHandler = Callable[[list[Envelope[Any]]], Awaitable[None]]


# Indirections a test replaces to follow the batch loop's waits without waiting.
_monotonic = time.monotonic
_pause = asyncio.sleep


class PromptBatchSubscriber(BatchSubscriber):
    """FastStream's batch subscriber, without its second wait. After a `getmany` that waited `batch_timeout_ms`
    for nothing, FastStream sleeps as long again; an event arriving meanwhile waited up to 200 ms more at each
    hop (the cross-province lag's p99 was 210 ms, bench/query.md). This one pauses only for what `getmany` did
    not wait: it returns at once while the consumer has no assignment, and then the pause keeps the loop from
    spinning."""

    __slots__ = ()

    async def get_msg(self, consumer: AIOKafkaConsumer) -> tuple[ConsumerRecord[bytes, bytes], ...]:
        started = _monotonic()
        messages = await consumer.getmany(timeout_ms=self.batch_timeout_ms, max_records=self.max_records)
        if messages:
            return tuple(itertools.chain.from_iterable(messages.values()))
        rest = self.batch_timeout_ms / 1000 - (_monotonic() - started)
        if rest > 0:
            await _pause(rest)
        return ()


class Broker(KafkaBroker):
    """FastStream starts subscribers one after another, and each waits for its group's assignment. A process
    joining groups that already have a member (a second worker, a restart, a rebuild beside a running query)
    then waits one rebalance per group, up to a heartbeat interval each: a dozen groups took 20 s, a minute
    after a broker restart. Starting them together makes it one wait."""

    async def start(self) -> None:
        await self.connect()
        await asyncio.gather(*(subscriber.start() for subscriber in self.subscribers))
        for publisher in self.publishers:
            await publisher.start()
        self.running = True


def make_broker(
    bootstrap: str,
    *,
    client_id: str,
    tracer_provider: TracerProvider | None = None,
    description: str | None = None,
    metadata_max_age_ms: int = 5 * 60 * 1000,
) -> KafkaBroker:
    """A pattern subscriber sees a new province's topic at the next metadata refresh: keep it short there."""
    return Broker(
        bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        request_timeout_ms=20_000,
        metadata_max_age_ms=metadata_max_age_ms,
        middlewares=[KafkaTelemetryMiddleware(tracer_provider=tracer_provider)],
        description=description,
        log_level=logging.INFO,
    )


class Publishers:
    """One declared publisher per produced topic (AsyncAPI lists them), and the producer the relay sends with.

    The relay sends on a plain idempotent producer (acks=all) rather than through FastStream's publishers: a
    publisher call with its middleware and span costs about 150 microseconds, the producer's send a tenth of
    that, and a batch of 100,000 certificates goes through here. Tracing stays whole: the rows one transaction
    emitted (one trace context) get one `publish` span, whose context each of their messages carries.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        province: str,
        contracts: Iterable[EventContract[Any]],
        *,
        root: str,
        bootstrap: str,
        client_id: str,
        tracer_provider: TracerProvider | None = None,
    ):
        self._topic_by_type: dict[str, str] = {}
        self.topics: list[str] = []
        self.topic_configs: dict[str, dict[str, str]] = {}
        for contract in contracts:
            topic = contract.topic(province, root)
            self.topics.append(topic)
            self._topic_by_type[contract.type] = topic
            if contract.topic_config:
                self.topic_configs[topic] = contract.topic_config
            broker.publisher(
                topic, title=f"{topic}:publish", description=contract.description, schema=contract.envelope
            )
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=f"{self._client_id}-relay",
            enable_idempotence=True,
            acks="all",
            request_timeout_ms=20_000,
            max_batch_size=512 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, rows: Sequence[Unsent]) -> list[Awaitable[Any]]:
        """Hands the rows to the producer in order and returns the broker's acknowledgements to await.

        Rows are handed over in order and the producer is idempotent, so order per partition holds while
        a whole relay batch is in flight at once.
        """
        if self._producer is None:
            raise RuntimeError("the relay's producer is not started")
        acknowledgements: list[Awaitable[Any]] = []
        for (event_type, _trace), run in itertools.groupby(
            rows, lambda row: (row.event_type, row.headers.get("traceparent"))
        ):
            topic = self._topic_by_type.get(event_type)
            if topic is None:
                raise LookupError(f"this service declares no publisher for {event_type}")
            messages = list(run)
            with self._span(topic, messages):
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                for row in messages:
                    headers = {**row.headers, **carrier, "event-id": str(row.event_id), "event-type": row.event_type}
                    acknowledgements.append(
                        await self._producer.send(
                            topic,
                            row.body.encode(),
                            key=row.key.encode(),
                            headers=[(name, value.encode()) for name, value in headers.items()],
                        )
                    )
        return acknowledgements

    def _span(self, topic: str, messages: list[Unsent]) -> Any:
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "publish",
            "messaging.destination.name": topic,
        }
        if len(messages) > 1:
            attributes["messaging.batch.message_count"] = len(messages)
        return self._tracer.start_as_current_span(
            f"{topic} publish",
            context=propagate.extract(messages[0].headers),
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )


def _type_and_trace(row: Unsent) -> tuple[str, str | None]:
    return row.event_type, row.headers.get("traceparent")


def subscribe(
    broker: KafkaBroker,
    contract: EventContract[Any],
    *,
    province: str,
    consumer: str,
    group_id: str,
    handler: Handler,
    root: str,
    tracer_provider: TracerProvider | None = None,
    all_provinces: bool = False,
    max_records: int = 500,
    retrying: Retrying = Retrying(),
    together: BatchHandler | None = None,
) -> list[str]:
    """Consumes one event contract: this province's topic, or every province's by pattern.

    Messages are fetched in batches of up to `max_records` and the offsets committed once per batch,
    after every handler in it finished: a commit per message would cost a broker round trip each. An
    error rewinds to the batch's first record; handlers are idempotent, so the ones done are skipped.
    Each record gets its own consumer span, continuing the producer's trace from the headers. With a `together`
    handler, a fetched batch's readable events of one topic are applied at once, in one span that continues the
    first one's trace and links the others'; if that fails, they are applied one by one as above.
    A failing record is retried as `retrying` says (see the module's docstring); its failures are counted by
    position here, in this process: a restart begins the count again, which only delays a dead letter.
    Returns the topics it names (consumed and dead-letter), for `ensure_topics`.
    """
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    dead_letter_name = dead_letter_topic(province, consumer, root)
    dead_letters = broker.publisher(
        dead_letter_name,
        title=f"{dead_letter_name}:publish",
        description=f"Messages {consumer} could not read, with the reason in the `dead-letter-reason` header.",
    )
    topics = [] if all_provinces else [contract.topic(province, root)]
    pattern = contract.pattern(root) if all_provinces else None

    failures: dict[tuple[str, int, int], int] = {}

    async def dead_letter(record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        await dead_letters.publish(
            record.value,
            key=record.key,
            headers={
                **{key: value.decode(errors="replace") for key, value in record.headers},
                "dead-letter-reason": reason[:2000],
                "dead-letter-source-topic": record.topic,
                "dead-letter-source-partition": str(record.partition),
                "dead-letter-source-offset": str(record.offset),
                "dead-letter-group": group_id,
            },
        )

    async def consume_record(record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            envelope = contract.parse(record.value or b"")
        except (ValidationError, EventTypeMismatch, UnicodeDecodeError) as error:
            reason = _short_reason(error)
            log.warning("dead-lettering message from %s: %s", record.topic, reason)
            await dead_letter(record, reason)
            return
        position = (record.topic, record.partition, record.offset)
        try:
            await handler(envelope)
        except Exception as error:
            attempts = failures[position] = failures.get(position, 0) + 1
            where = f"{record.topic}[{record.partition}]@{record.offset} (event {envelope.id})"
            if retrying.gives_up(error, attempts):
                del failures[position]
                reason = f"not applied after {attempts} attempts: {type(error).__name__}: {error}"
                log.error("dead-lettering %s: %s", where, reason, exc_info=error)
                await dead_letter(record, reason)
                return
            pause = retrying.pause(attempts)
            # The traceback once; every later try a line, so a long outage does not flood the log.
            log.warning(
                "%s failed (attempt %d, %s), trying again in %.1f s: %s: %s",
                where,
                attempts,
                "transient" if is_transient(error) else "the event's own",
                pause,
                type(error).__name__,
                error,
                exc_info=error if attempts == 1 else None,
            )
            await asyncio.sleep(pause)
            raise
        failures.pop(position, None)

    def span(records: list[ConsumerRecord[bytes, bytes]]) -> Any:
        parents = [
            propagate.extract({key: value.decode(errors="replace") for key, value in record.headers})
            for record in records
        ]
        links = [
            trace.Link(context)
            for parent in parents[1:]
            if (context := trace.get_current_span(parent).get_span_context()).is_valid
        ]
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.destination.name": records[0].topic,
            "messaging.kafka.message.offset": records[0].offset,
            "messaging.consumer.group.name": group_id,
        }
        if len(records) > 1:
            attributes["messaging.batch.message_count"] = len(records)
        return tracer.start_as_current_span(
            f"{records[0].topic} process",
            context=parents[0],
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links,
        )

    async def one_by_one(records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            with span([record]):
                await consume_record(record)

    async def all_at_once(records: list[ConsumerRecord[bytes, bytes]]) -> None:
        assert together is not None
        envelopes = []
        for record in records:
            try:
                envelopes.append(contract.parse(record.value or b""))
            except (ValidationError, EventTypeMismatch, UnicodeDecodeError):
                await one_by_one(records)  # the unreadable one is dead-lettered there, with its reason
                return
        try:
            with span(records):
                await together(envelopes)
        except Exception as error:
            log.info(
                "a batch of %d from %s failed (%s: %s); applying it event by event",
                len(records),
                records[0].topic,
                type(error).__name__,
                error,
            )
            await one_by_one(records)

    async def consume(message: KafkaMessage) -> None:
        records = message.raw_message if isinstance(message.raw_message, tuple | list) else (message.raw_message,)
        if together is None:
            await one_by_one(records)
            return
        by_topic: dict[str, list[ConsumerRecord[bytes, bytes]]] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record)
        for batch in by_topic.values():
            await all_at_once(batch)

    consume.__name__ = f"on_{contract.service}_{contract.name}".replace("-", "_")
    consume.__doc__ = contract.description
    subscriber = broker.subscriber(
        *topics,
        decoder=_not_decoded,
        pattern=pattern,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        # getmany returns as soon as records arrive: a longer wait adds no latency, only fewer idle rounds.
        batch_timeout_ms=500,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title=f"{contract.type}:{consumer}",
        description=contract.description,
    )
    assert type(subscriber) is BatchSubscriber, type(subscriber)
    subscriber.__class__ = PromptBatchSubscriber  # same slots: only get_msg differs
    subscriber(consume)
    return [*topics, dead_letter_name]


async def _not_decoded(message: Any) -> None:
    """The handlers read the raw records and parse each as its contract says: FastStream's own JSON decoding of a
    fetched batch, with a message object each, was a seventh of the query projector's time (bench/README.md)."""
    return None


def _short_reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]]
        return "invalid event: " + "; ".join(parts)
    return f"invalid event: {error}"
