"""Session fixtures: the real Kafka broker, Redis and PostgreSQL, started by the launcher `make up` uses.

Set SKILLCERT_TEST_KAFKA / SKILLCERT_TEST_REDIS to reuse running servers instead of starting them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra.servers import KafkaServer, PostgresServer, RedisServer
from shared.platform.auth import Role, ensure_dev_keys, mint_token
from tests.harness import Environment, default_region, delete_topics

PROVINCES = ("33", "32", "31", "21", "37", "45")


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def kafka_bootstrap(servers_dir: Path) -> Iterator[str]:
    if existing := os.environ.get("SKILLCERT_TEST_KAFKA"):
        yield existing
        return
    server = KafkaServer(servers_dir / "kafka")
    server.start()
    yield server.bootstrap
    server.stop()


@pytest.fixture(scope="session")
def redis_url(servers_dir: Path) -> Iterator[str]:
    if existing := os.environ.get("SKILLCERT_TEST_REDIS"):
        yield existing
        return
    server = RedisServer(servers_dir / "redis")
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(servers_dir / "postgres")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys")
    for province in PROVINCES:
        ensure_dev_keys(path, province)
    return path


@pytest.fixture
def topic_root() -> str:
    """A topic root of this test's own, so tests sharing the broker never see each other's events."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url_factory(database_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    """Makes a fresh database per service and province on the parametrized backend."""

    def make(name: str) -> str:
        if database_backend == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database(f"{name}_{uuid.uuid4().hex[:8]}")

    yield make


@pytest.fixture
def token(keys_dir: Path):  # type: ignore[no-untyped-def]
    def make(
        province: str,
        role: Role | str,
        organization: str | None = None,
        *,
        subject: str | None = None,
        region: str | None = None,
    ) -> dict[str, str]:
        """A bearer header; `subject` names who the token is (an inspector's pool id), else test-<role>; a city or
        county official acts for `region`, by default the province's first city (<province>0100) or its county
        <province>0102."""
        role = Role(role)
        value = mint_token(
            keys_dir,
            province=province,
            role=role,
            subject=subject or f"test-{role.value}",
            organization=organization,
            region=region or default_region(province, role),
        )
        return {"Authorization": f"Bearer {value}"}

    return make


@pytest.fixture
async def env(
    kafka_bootstrap: str, keys_dir: Path, topic_root: str, tmp_path: Path, redis_url: str
) -> AsyncIterator[Environment]:
    """In-process services on the real broker and Redis, each with its own SQLite database under tmp_path; the
    test's topics are deleted after it."""
    yield Environment(
        kafka_bootstrap,
        keys_dir,
        topic_root,
        lambda name: f"sqlite:///{tmp_path / name}.db",
        redis_url,
        clock_dir=tmp_path / "clock",
    )
    await delete_topics(kafka_bootstrap, topic_root)
