"""The shared public query service: `uvicorn --factory services.query.app:create` (several workers welcome)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

import httpx
from fastapi import FastAPI
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis

from shared.platform.app import create_app
from shared.platform.runtime import build_runtime

from . import flows
from .complaints import Supervisions
from .fair_use import FairUse
from .rebuild import ReadModelReadiness, RebuildRecorded, RebuildWatch
from .settings import QuerySettings
from .store import CertificateStore
from .views import router
from .workers import exit_with_master

log = logging.getLogger(__name__)


def create(
    settings: QuerySettings | None = None,
    tracer_provider: TracerProvider | None = None,
    *,
    read_model_id: str | None = None,
    supervision_clients: Mapping[str, httpx.AsyncClient] | None = None,
) -> FastAPI:
    """`read_model_id` fixes the consumer groups up front (documentation); by default they come from Redis.
    `supervision_clients` (province -> client) reach the provinces' supervision services for complaints, beside or
    instead of those of `settings.supervision_urls` (tests: an in-process supervision). `settings.role` splits the
    lookups (`serve`, any number of workers) from the consumers that write the read model (`project`, one
    process): a worker then only reads, and a burst of events costs the lookups nothing but Redis."""
    settings = settings or QuerySettings()
    runtime = build_runtime(settings, with_database=False, tracer_provider=tracer_provider)
    redis = Redis.from_url(settings.redis_url)
    RedisInstrumentor().instrument_client(redis, tracer_provider=runtime.tracer_provider)
    store = CertificateStore(redis, settings.id_hash_key.get_secret_value().encode(), settings.redis_prefix)
    readiness = ReadModelReadiness(awaits_watch=read_model_id is None)
    watch: list[RebuildWatch | RebuildRecorded] = readiness.watches
    consumes, serves = settings.role != "serve", settings.role != "project"
    if read_model_id is not None and consumes:
        runtime.consume_into(flows.consumer, store, instance=read_model_id)

    async def subscribe_for_this_read_model() -> None:
        # Before the broker starts: the groups are named after the read model this Redis holds.
        model_id, _ = await store.model_id()
        groups = runtime.consume_into(flows.consumer, store, instance=model_id)
        info = await store.model_info()
        # Not ready until the groups reach the log's end as of now: a new read model reads it all; a restart
        # catches up on what came while it was down; groups of another name (an upgrade) start from the start.
        fresh = "rebuilt_in_seconds" not in info
        if fresh:
            log.info("read model %s is new or unfinished: reading the log from the start", model_id)
        rebuild = RebuildWatch(
            settings.kafka_bootstrap, store, groups, flows.CONTRACTS, settings.topic_root, record=fresh
        )
        watch.append(rebuild)
        await rebuild.start(float(info["created_at"]) if fresh else time.time())

    async def wait_for_the_projector() -> None:
        recorded = RebuildRecorded(store)
        watch.append(recorded)
        await recorded.start()

    async def redis_answers() -> tuple[str, bool]:
        try:
            return "redis", bool(await redis.ping())
        except Exception:
            return "redis", False

    async def read_model_caught_up() -> tuple[str, bool]:
        return "read model caught up with the log", readiness.caught_up

    async def stop_watch() -> None:
        for w in watch:
            await w.stop()

    # A worker of `uvicorn --workers N` does not outlive its master (workers.py).
    runtime.on_start.append(exit_with_master)
    if read_model_id is None:
        runtime.on_start.append(subscribe_for_this_read_model if consumes else wait_for_the_projector)
    runtime.readiness_checks += [redis_answers, read_model_caught_up]
    supervisions = Supervisions.connect(
        settings.supervision_urls, timeout=settings.supervision_timeout_seconds, given=supervision_clients
    )
    runtime.on_stop += [stop_watch, redis.aclose, supervisions.aclose]
    app = create_app(
        runtime,
        title="skillcert public query",
        routers=[router] if serves else [],
        accepts_tokens=False,
        hot_path=True,
        rate_limited=serves,
    )
    app.state.certificate_store = store
    app.state.read_model = readiness  # the public lookups answer 503 until it has caught up (views.py)
    app.state.supervisions = supervisions
    app.state.fair_use = FairUse(
        redis,
        settings.redis_url,
        prefix=settings.redis_prefix,
        lookups=settings.lookup_limits,
        misses=settings.miss_limits,
        partner_keys=[key.get_secret_value() for key in settings.partner_keys],
        trusted_proxies=settings.trusted_proxies,
    )
    return app
