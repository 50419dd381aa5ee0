"""The service tier: every service's consumers under FastStream's in-memory `TestKafkaBroker`, each service on a
fresh SQLite database (the query service on the test Redis). No Kafka: a publish runs the subscriber at once,
and the test reads back what the handler did.

Each service is built by its app factory (so its consumers are subscribed exactly as in production), migrated
here, and run without its lifespan (which would create topics on a real broker).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, func, select

from services.certificates import app as certificates_app
from services.certificates import flows as certificates_flows
from services.certificates.settings import CertificatesSettings
from services.query import app as query_app
from services.query import flows as query_flows
from services.query.settings import QuerySettings
from services.query.store import CertificateStore
from services.recognition import app as recognition_app
from services.recognition import flows as recognition_flows
from services.recognition.settings import RecognitionSettings
from services.registry import app as registry_app
from services.registry import flows as registry_flows
from services.registry.settings import RegistrySettings
from services.supervision import app as supervision_app
from services.supervision import flows as supervision_flows
from services.supervision.settings import SupervisionSettings
from shared.kernel.events import Envelope, EventContract, contract_for, dead_letter_topic
from shared.platform.auth import Role, TokenVerifier, ensure_dev_keys, mint_token
from shared.platform.bus import Consumer
from shared.platform.db import migrate
from shared.platform.outbox import ProcessedEvent
from shared.platform.runtime import Runtime
from shared.platform.unit import Unit
from tests.harness import default_region
from tests.service.samples import PROVINCE

M = TypeVar("M", bound=SQLModel)
CONSUMERS: dict[str, Consumer[Any]] = {
    "registry": registry_flows.consumer,
    "recognition": recognition_flows.consumer,
    "supervision": supervision_flows.consumer,
    "certificates": certificates_flows.consumer,
    "query": query_flows.consumer,
}
SERVICES = tuple(CONSUMERS)
READ_MODEL_ID = "service-tier"
TRACER_PROVIDER = TracerProvider()  # spans go nowhere: one provider for every service built here


@dataclass
class DeadLetter:
    body: bytes
    headers: dict[str, str]


@dataclass
class ServiceBus:
    """One service with its consumers subscribed on the in-memory broker."""

    name: str
    runtime: Runtime[Any]
    broker: KafkaBroker
    dead_letters: list[DeadLetter] = field(default_factory=list)
    store: CertificateStore | None = None
    app: FastAPI | None = None

    @contextlib.asynccontextmanager
    async def http(self, *, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
        """The service's routes over ASGI, accepting the province's tokens (what the lifespan would load);
        `raise_app_exceptions=False` answers an unhandled error with 500 as a server would."""
        assert self.app is not None
        settings = self.runtime.settings
        ensure_dev_keys(settings.keys_dir, settings.province)
        self.app.state.token_verifier = TokenVerifier.load(settings.keys_dir, settings.province)
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    def token(
        self,
        role: Role | str,
        organization: str | None = None,
        *,
        subject: str | None = None,
        region: str | None = None,
    ) -> dict[str, str]:
        """A bearer header for `role`; `subject` is who the token names (an expert's pool id for an inspector);
        `region` the division a city or county official acts for (by default as `default_region`)."""
        settings = self.runtime.settings
        ensure_dev_keys(settings.keys_dir, settings.province)
        value = mint_token(
            settings.keys_dir,
            province=settings.province,
            role=Role(role),
            subject=subject or f"test-{role}",
            organization=organization,
            region=region or default_region(settings.province, Role(role)),
        )
        return {"Authorization": f"Bearer {value}"}

    @property
    def root(self) -> str:
        return str(self.runtime.settings.topic_root)

    @property
    def consumer(self) -> Consumer[Any]:
        return CONSUMERS[self.name]

    def topic(self, contract: EventContract[Any], province: str = PROVINCE) -> str:
        return contract.topic(province, self.root)

    async def deliver(self, envelope: Envelope[Any], *, topic: str | None = None) -> None:
        """Publishes the envelope as the outbox relay does, on its producer's topic unless `topic` is given."""
        await self.publish(
            envelope.model_dump_json().encode(),
            topic=topic or self.topic(contract_for(envelope.type), envelope.province),
            key=envelope.subject,
            headers={"event-id": str(envelope.id), "event-type": envelope.type},
        )

    async def publish(self, body: bytes, *, topic: str, key: str = "", headers: dict[str, str] | None = None) -> None:
        await self.broker.publish(body, topic=topic, key=key.encode(), headers=headers or {})

    def count(self, model: type[SQLModel], *where: ColumnElement[bool] | bool) -> int:
        with Session(self.runtime.db) as session:
            return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

    def rows(self, model: type[M], *where: ColumnElement[bool] | bool, order_by: Any = None) -> list[M]:
        statement = select(model).where(*where)
        if order_by is not None:
            statement = statement.order_by(order_by)
        with Session(self.runtime.db) as session:
            return list(session.exec(statement))

    def processed(self) -> int:
        """Events this service's consumer recorded as applied (apply-once)."""
        return self.count(ProcessedEvent, ProcessedEvent.consumer == self.consumer.name)

    @contextlib.contextmanager
    def unit(self) -> Iterator[Unit[Any]]:
        """A unit of work on the service's database, committed at the end (test set-up, as an edge would)."""
        with Session(self.runtime.db_for_changes) as session:
            yield self.runtime.unit(session, changing=True)
            session.commit()


def _app(name: str, tmp_path: Path, topic_root: str, redis_url: str | None, overrides: dict[str, Any]) -> Any:
    common: dict[str, Any] = {
        "province": PROVINCE,
        "topic_root": topic_root,
        "keys_dir": tmp_path / "keys",
        "database_url": f"sqlite:///{tmp_path / name}.db",
        "consumer_first_pause_seconds": 0,  # the in-memory broker delivers once: a failure is raised at once
        **overrides,
    }
    if name == "registry":
        return registry_app.create(RegistrySettings(**common), TRACER_PROVIDER)
    if name == "recognition":
        return recognition_app.create(RecognitionSettings(**common), TRACER_PROVIDER)
    if name == "supervision":
        return supervision_app.create(SupervisionSettings(**common), TRACER_PROVIDER)
    if name == "certificates":
        certificates = CertificatesSettings(
            **common, signing_keys_dir=tmp_path / "signing-keys", public_base_url="https://cx.example.cn"
        )
        return certificates_app.create(certificates, TRACER_PROVIDER)
    assert name == "query", name
    assert redis_url, "the query service needs the test Redis"
    settings = QuerySettings(
        province=PROVINCE,
        topic_root=topic_root,
        redis_url=redis_url,
        id_hash_key="service-tier-id-hash-key",
        redis_prefix=f"{topic_root}:",
        consumer_first_pause_seconds=0,
    )
    return query_app.create(settings, TRACER_PROVIDER, read_model_id=READ_MODEL_ID)


MIGRATIONS = {
    "registry": registry_app.MIGRATIONS,
    "recognition": recognition_app.MIGRATIONS,
    "supervision": supervision_app.MIGRATIONS,
    "certificates": certificates_app.MIGRATIONS,
}


@contextlib.asynccontextmanager
async def running(
    name: str, *, tmp_path: Path, topic_root: str, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[ServiceBus]:
    """The service `name` built by its app factory (with settings `overrides`), migrated, its consumers on
    TestKafkaBroker."""
    app = _app(name, tmp_path, topic_root, redis_url, overrides)
    runtime: Runtime[Any] = app.state.runtime
    if name in MIGRATIONS:
        migrate(runtime.db, MIGRATIONS[name])
    dead_letters: list[DeadLetter] = []

    @runtime.broker.subscriber(dead_letter_topic(PROVINCE, CONSUMERS[name].name, topic_root))
    async def keep_dead_letter(message: KafkaMessage) -> None:
        dead_letters.append(DeadLetter(bytes(message.body), dict(message.headers)))

    store: CertificateStore | None = getattr(app.state, "certificate_store", None)
    try:
        async with TestKafkaBroker(runtime.broker) as broker:
            yield ServiceBus(name, runtime, broker, dead_letters, store, app)
    finally:
        for hook in runtime.on_stop:
            result = hook()
            if hasattr(result, "__await__"):
                await result
        if store is not None:
            await _forget(redis_url or "", f"{topic_root}:")
        if runtime.engine is not None:
            runtime.engine.dispose()


async def _forget(redis_url: str, prefix: str) -> None:
    """Deletes this test's keys: the test Redis may be a shared one (SKILLCERT_TEST_REDIS)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture
async def registry(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root) as bus:
        yield bus


@pytest.fixture(params=["recognition", "supervision"])
async def replica(request: pytest.FixtureRequest, tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    """Recognition and supervision keep the same replica of filed organizations, by the same three consumers."""
    async with running(request.param, tmp_path=tmp_path, topic_root=topic_root) as bus:
        yield bus


@pytest.fixture
async def certificates(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running("certificates", tmp_path=tmp_path, topic_root=topic_root) as bus:
        yield bus


@pytest.fixture
async def query(tmp_path: Path, topic_root: str, redis_url: str) -> AsyncIterator[ServiceBus]:
    async with running("query", tmp_path=tmp_path, topic_root=topic_root, redis_url=redis_url) as bus:
        yield bus
