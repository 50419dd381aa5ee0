"""What every service app shares: lifespan (migrations, broker, outbox relay), health, sessions, errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlmodel import Session

from shared.kernel.errors import Conflict, FieldError, FieldErrors, NotFound
from shared.kernel.events import Envelope, EventContract
from shared.kernel.numbering import LegacyNumber, NumberError, parse_lookup
from shared.platform.auth import TokenVerifier
from shared.platform.bus import Publishers, ensure_topics, make_broker, subscribe
from shared.platform.db import database_answers, make_engine, migrate
from shared.platform.outbox import OutboxRelay, apply_once
from shared.platform.settings import ServiceSettings
from shared.platform.telemetry import FASTAPI_NATIVE_TELEMETRY_OFF, instrument_app, make_tracer_provider

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Clock:
    """The service's idea of today. Only a training or demo deployment (`ADJUSTABLE_CLOCK`) moves it on, so a
    walk-through can pass a publicity period in seconds; it never goes back."""

    offset_days: int = 0

    def today(self) -> date:
        return date.today() + timedelta(days=self.offset_days)


class ClockMove(BaseModel):
    days: int = Field(ge=1, le=3660, description="how many days to move the service's date on")


@dataclass
class Runtime:
    """The live parts of one service instance, kept on `app.state.runtime`."""

    settings: ServiceSettings
    broker: KafkaBroker
    tracer_provider: TracerProvider
    engine: Engine | None = None
    relay: OutboxRelay | None = None
    publishers: Publishers | None = None
    topics: list[str] = field(default_factory=list)
    readiness_checks: list[Callable[[], Any]] = field(default_factory=list)
    on_start: list[Callable[[], Any]] = field(default_factory=list)
    on_stop: list[Callable[[], Any]] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)

    @property
    def db(self) -> Engine:
        assert self.engine is not None, "this service has no SQL database"
        return self.engine

    def subscribe(
        self, contract: EventContract[Any], *, consumer: str, group_id: str,
        handler: Callable[[Envelope[Any]], Awaitable[None]], all_provinces: bool = False,
    ) -> None:
        """Consumes `contract` from this province (or every province) under this instance's topic root."""
        self.topics += subscribe(
            self.broker, contract, province=self.settings.province, consumer=consumer, group_id=group_id,
            handler=handler, root=self.settings.topic_root, tracer_provider=self.tracer_provider,
            all_provinces=all_provinces,
        )

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def apply_once(self, consumer: str, envelope: Envelope[Any], apply: Callable[[Session], T]) -> T | None:
        """Applies an event exactly once (see shared.platform.outbox.apply_once) off the event loop."""
        result = await asyncio.to_thread(apply_once, self.db, consumer, envelope.id, apply)
        self.wake_relay()
        return result


def build_runtime(
    settings: ServiceSettings,
    *,
    produces: Iterable[EventContract[Any]] = (),
    with_database: bool = True,
    exporter: SpanExporter | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Runtime:
    provider = tracer_provider or make_tracer_provider(
        f"{settings.province}-{settings.service_name}", settings.province,
        otlp_endpoint=settings.otlp_endpoint, exporter=exporter, sample_ratio=settings.trace_sample_ratio,
    )
    broker = make_broker(
        settings.kafka_bootstrap, client_id=settings.client_id, tracer_provider=provider,
        description=f"skillcert {settings.service_name}, province {settings.province}",
        metadata_max_age_ms=settings.topic_refresh_ms,
    )
    runtime = Runtime(settings=settings, broker=broker, tracer_provider=provider)
    if with_database:
        runtime.engine = make_engine(settings.sqlalchemy_url)
    contracts = list(produces)
    if contracts:
        runtime.publishers = Publishers(broker, settings.province, contracts, root=settings.topic_root)
        runtime.topics += runtime.publishers.topics
        runtime.relay = OutboxRelay(runtime.db, runtime.publishers.publish, poll_seconds=settings.outbox_poll_seconds)
    return runtime


def create_app(
    runtime: Runtime,
    *,
    title: str,
    routers: Iterable[APIRouter],
    migrations_dir: Path | None = None,
    accepts_tokens: bool = True,
) -> FastAPI:
    settings = runtime.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.engine is not None and migrations_dir is not None and settings.run_migrations:
            await asyncio.to_thread(migrate, runtime.engine, migrations_dir)
        if accepts_tokens:
            app.state.token_verifier = TokenVerifier.load(settings.keys_dir, settings.province)
        for hook in runtime.on_start:
            await _maybe_await(hook())
        await ensure_topics(settings.kafka_bootstrap, runtime.topics, partitions=settings.topic_partitions,
                            replication=settings.topic_replication, client_id=settings.client_id,
                            configs=runtime.publishers.topic_configs if runtime.publishers else None)
        await runtime.broker.start()
        if runtime.relay is not None:
            runtime.relay.start()
        # What start-up made lives as long as the process: keep it out of every garbage collection, whose full
        # passes over it would otherwise stall requests for tens of milliseconds.
        gc.freeze()
        try:
            yield
        finally:
            if runtime.relay is not None:
                await runtime.relay.stop()
            await runtime.broker.stop()
            for hook in runtime.on_stop:
                await _maybe_await(hook())
            runtime.tracer_provider.force_flush()

    app = FastAPI(
        title=f"{title} ({settings.province})",
        lifespan=lifespan,
        description=f"skillcert {settings.service_name} for province {settings.province}",
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
    )
    app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(FieldErrors, _field_error)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(NotFound, _not_found)
    # The service's own routes before health (FastAPI's docs routes come first): they are matched in order.
    for router in [*routers, _health_router(), *([_clock_router()] if settings.adjustable_clock else [])]:
        _add_routes(app, router)
    instrument_app(app, runtime.engine, runtime.tracer_provider, sample_ratio=settings.trace_sample_ratio)
    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Makes the router's routes the app's own. `include_router` would keep the router as a node that FastAPI
    (since 0.137) matches twice on every request, a tenth of a public lookup (bench/query.md); the services'
    routers carry nothing of their own (prefix, dependencies, lifespan) that the node would add. Unlike
    included routes, these do not see `app.dependency_overrides` (no test or service uses them)."""
    assert not (router.prefix or router.dependencies or router.on_startup or router.on_shutdown), router
    app.router.routes.extend(router.routes)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 that names each field and the reason, in one flat list a form can show."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]} for e in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


async def _field_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, FieldError | FieldErrors)
    errors = error.errors if isinstance(error, FieldErrors) else [error]
    return JSONResponse(status_code=422, content={"detail": [{"field": e.field, "reason": e.reason} for e in errors]})


async def _conflict(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error)})


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error)})


def _clock_router() -> APIRouter:
    router = APIRouter(tags=["training clock"])

    @router.get("/clock")
    async def read_clock(runtime: RuntimeDep) -> dict[str, Any]:
        return {"today": runtime.clock.today().isoformat(), "offset_days": runtime.clock.offset_days}

    @router.post("/clock")
    async def move_clock(move: ClockMove, runtime: RuntimeDep) -> dict[str, Any]:
        """Moves this service's date on (training and demo deployments only)."""
        runtime.clock.offset_days += move.days
        log.warning("clock moved on %s days: today is %s", move.days, runtime.clock.today())
        return {"today": runtime.clock.today().isoformat(), "offset_days": runtime.clock.offset_days}

    return router


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request, response: Response) -> dict[str, Any]:
        """Ready only when the database (or Redis) and the Kafka broker answer."""
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, bool] = {}
        if runtime.engine is not None:
            checks["database"] = await asyncio.to_thread(database_answers, runtime.engine)
        checks["kafka"] = await runtime.broker.ping(timeout=2.0)
        for check in runtime.readiness_checks:
            name, ok = await check()
            checks[name] = ok
        ready = all(checks.values())
        response.status_code = 200 if ready else 503
        return {"ready": ready, "checks": checks}

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi(request: Request) -> Response:
        """The service's AsyncAPI document: every topic it publishes and consumes, with payload schemas."""
        return Response(asyncapi_json(request.app.state.runtime), media_type="application/json")

    return router


def asyncapi_json(runtime: Runtime) -> str:
    settings = runtime.settings
    spec = AsyncAPI(runtime.broker, title=f"skillcert {settings.service_name}", version="1.0.0",
                    description=f"Events of the {settings.service_name} service (province {settings.province}).")
    return spec.to_specification().to_json()


async def lookup_number(number: str) -> str:
    """A certificate number from the path: 422 naming the position at fault; a legacy number is marked so."""
    # async although it awaits nothing: a plain function would cost a thread-pool hop on every lookup.
    try:
        return str(parse_lookup(number))
    except LegacyNumber as error:
        raise HTTPException(404, detail=str(error), headers={"X-Legacy-Number": "true"}) from error
    except NumberError as error:
        raise HTTPException(422, detail=[{"field": "number", "reason": str(error)}]) from error


LookupNumber = Annotated[str, Depends(lookup_number)]


def session_dependency(request: Request) -> Iterator[Session]:
    runtime: Runtime = request.app.state.runtime
    with Session(runtime.db) as session:
        yield session
    # Whatever this request committed to the outbox goes out now rather than at the next poll.
    runtime.wake_relay()


SessionDep = Annotated[Session, Depends(session_dependency)]


def runtime_dependency(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]


def today_dependency(request: Request) -> date:
    return request.app.state.runtime.clock.today()  # type: ignore[no-any-return]


TodayDep = Annotated[date, Depends(today_dependency)]
