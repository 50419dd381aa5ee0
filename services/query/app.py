"""The shared public query service: `uvicorn --factory services.query.app:create`."""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from redis.asyncio import Redis

from shared.service import build_runtime, create_app

from . import flows
from .settings import QuerySettings
from .store import CertificateStore
from .views import router


def create(settings: QuerySettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or QuerySettings()  # type: ignore[call-arg]
    runtime = build_runtime(settings, with_database=False, tracer_provider=tracer_provider)
    redis = Redis.from_url(settings.redis_url)
    RedisInstrumentor().instrument_client(redis, tracer_provider=runtime.tracer_provider)
    store = CertificateStore(redis, settings.id_hash_key.get_secret_value().encode(), settings.redis_prefix)
    flows.register(runtime, store, group_id=settings.consumer_group)

    async def redis_answers() -> tuple[str, bool]:
        try:
            return "redis", bool(await redis.ping())
        except Exception:
            return "redis", False

    runtime.readiness_checks.append(redis_answers)
    runtime.on_stop.append(redis.aclose)
    app = create_app(runtime, title="skillcert public query", routers=[router], accepts_tokens=False)
    app.state.certificate_store = store
    return app
