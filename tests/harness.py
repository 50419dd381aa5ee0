"""Runs service apps in-process (lifespan included) against the real broker, Redis and database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from infra.walkthrough import ProvinceClients
from services.certificates.app import create as create_certificates
from services.certificates.settings import CertificatesSettings
from services.query.app import create as create_query
from services.query.settings import QuerySettings
from services.recognition.app import create as create_recognition
from services.recognition.settings import RecognitionSettings
from services.registry.app import create as create_registry
from services.registry.settings import RegistrySettings
from services.supervision.app import create as create_supervision
from services.supervision.settings import SupervisionSettings
from shared.platform.auth import Role

TEST_ID_HASH_KEY = "test-only-id-hash-key"


def default_region(province: str, role: Role) -> str | None:
    """The division a test's city or county official acts for unless it names one: the province's first city
    (<province>0100) or that city's county <province>0102; None (the province) for every other role."""
    return {Role.CITY_OFFICIAL: f"{province}0100", Role.COUNTY_OFFICIAL: f"{province}0102"}.get(role)


@dataclass
class Environment:
    kafka_bootstrap: str
    keys_dir: Path
    topic_root: str
    database_url: Callable[[str], str]
    redis_url: str = ""
    tracer_provider: TracerProvider | None = None
    clock_dir: Path | None = None

    def common(self, province: str) -> dict[str, Any]:
        """What a province's services share; with `clock_dir`, one training clock per province, as in a stack."""
        return {
            "province": province,
            "kafka_bootstrap": self.kafka_bootstrap,
            "keys_dir": self.keys_dir,
            "topic_root": self.topic_root,
            "outbox_poll_seconds": 0.1,
            "adjustable_clock": True,
            "topic_refresh_ms": 1000,
            "clock_file": (self.clock_dir or self.keys_dir.parent / f"clock-{self.topic_root}") / f"{province}.days",
        }


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            yield client


async def delete_topics(bootstrap: str, root: str) -> None:
    """Deletes the topics of one test's topic root (`<root>.` and mirrored `<alias>.<root>.`). Left on the
    session's broker they add up to thousands of partitions, and every pattern subscriber's metadata refresh
    and every group join of the later tests grows slower with them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{root}.") or f".{root}." in t]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def province_services(
    env: Environment, province: str, query: httpx.AsyncClient | None = None
) -> AsyncIterator[ProvinceClients]:
    """The four provincial services; `query` reaches the shared query service (for prior certificates)."""
    common = env.common(province)
    apps = [
        create_registry(
            RegistrySettings(**common, database_url=env.database_url(f"registry_{province}")), env.tracer_provider
        ),
        create_recognition(
            RecognitionSettings(**common, database_url=env.database_url(f"recognition_{province}")),
            env.tracer_provider,
            query_client=query,
        ),
        create_certificates(
            CertificatesSettings(**common, database_url=env.database_url(f"certificates_{province}")),
            env.tracer_provider,
        ),
        create_supervision(
            SupervisionSettings(**common, database_url=env.database_url(f"supervision_{province}")), env.tracer_provider
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(serve(app)) for app in apps]
        yield ProvinceClients(province, *clients)


class Relay(httpx.AsyncBaseTransport):
    """A transport to a client known only later: the query service is made before the provinces' services it
    forwards complaints to, so a test points this at a province's supervision once that runs."""

    def __init__(self) -> None:
        self.target: httpx.AsyncClient | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.target is None:
            raise httpx.ConnectError("the relayed service is not running yet", request=request)
        response = await self.target.send(request)
        return httpx.Response(response.status_code, headers=response.headers, content=await response.aread())


def query_app(
    env: Environment, *, supervision_clients: dict[str, httpx.AsyncClient] | None = None, **overrides: Any
) -> FastAPI:
    settings = QuerySettings(
        **{
            **env.common("33"),
            "redis_url": env.redis_url,
            "id_hash_key": TEST_ID_HASH_KEY,
            "redis_prefix": f"{env.topic_root}:",
            # Tests poll for what is not there yet; tests/test_query_fair_use.py checks the real limits.
            "lookup_limits": "100000/minute",
            "miss_limits": "100000/minute",
            **overrides,
        }
    )
    return create_query(settings, env.tracer_provider, supervision_clients=supervision_clients)
