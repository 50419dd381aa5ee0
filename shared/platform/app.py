"""The app factory every service uses: lifespan (migrations, broker, outbox relay), health, clock, errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.kernel.clock import ClockMove, ClockReading
from shared.kernel.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound
from shared.kernel.workdays import last_year_known
from shared.platform.auth import Role, TokenVerifier, require_role
from shared.platform.bus import ensure_topics
from shared.platform.db import database_answers, migrate
from shared.platform.deps import RuntimeDep
from shared.platform.errors import refuse_nul_characters
from shared.platform.idempotency import HEADER as IDEMPOTENCY_HEADER
from shared.platform.idempotency import Idempotency
from shared.platform.limits import DEFAULT_BODY_LIMIT, BodyLimit
from shared.platform.runtime import Runtime
from shared.platform.telemetry import FASTAPI_NATIVE_TELEMETRY_OFF, instrument_app

log = logging.getLogger(__name__)


def create_app(
    runtime: Runtime[Any],
    *,
    title: str,
    routers: Iterable[APIRouter],
    migrations_dir: Path | None = None,
    accepts_tokens: bool = True,
    hot_path: bool = False,
    rate_limited: bool = False,
    body_limits: Mapping[str, int] | None = None,
) -> FastAPI:
    """`hot_path` (the public query only) trades FastAPI conveniences for speed: routes are the app's own (no
    `dependency_overrides`) and start-up objects are frozen out of garbage collection. `rate_limited`: the
    service's own routes answer 429 past fair use, and the OpenAPI document says so. `body_limits`: path
    templates whose request bodies may be larger (or must be smaller) than `DEFAULT_BODY_LIMIT` (1 MiB), in
    bytes (shared/platform/limits.py). A service with a database and tokens remembers `Idempotency-Key`s
    (shared/platform/idempotency.py)."""
    settings = runtime.settings
    routers = list(routers)
    limits = dict(body_limits or {})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime.engine is not None and migrations_dir is not None and settings.run_migrations:
            await asyncio.to_thread(migrate, runtime.engine, migrations_dir)
        if accepts_tokens:
            app.state.token_verifier = TokenVerifier.load(
                settings.keys_dir, settings.province, max_lifetime=timedelta(hours=settings.token_max_hours)
            )
        for hook in runtime.on_start:
            await _maybe_await(hook())
        await ensure_topics(
            settings.kafka_bootstrap,
            runtime.topics,
            partitions=settings.topic_partitions,
            replication=settings.topic_replication,
            client_id=settings.client_id,
            configs=runtime.publishers.topic_configs if runtime.publishers else None,
        )
        await runtime.broker.start()
        if runtime.publishers is not None:
            await runtime.publishers.start()
        if runtime.relay is not None:
            runtime.relay.start()
        if hot_path:
            # What start-up made lives as long as the process: keep it out of every garbage collection, whose
            # full passes over it would otherwise stall requests for tens of milliseconds.
            gc.freeze()
        try:
            yield
        finally:
            await stop(runtime)

    app = FastAPI(
        title=f"{title} ({settings.province})",
        lifespan=lifespan,
        description=f"skillcert {settings.service_name} for province {settings.province}",
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        # The public query keeps nothing in a database and solves no dependency it can do without (hot_path).
        dependencies=[] if hot_path else [Depends(refuse_nul_characters)],
    )
    app.state.runtime = runtime
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(FieldErrors, _field_error)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Forbidden, _forbidden)
    # The service's own routes before health (FastAPI's docs routes come first): they are matched in order.
    for router in [*routers, _health_router(), *([_clock_router()] if accepts_tokens else [])]:
        if hot_path:
            _add_routes(app, router)
        else:
            app.include_router(router)
    unknown = set(limits) - {getattr(route, "path", None) for router in routers for route in router.routes}
    assert not unknown, f"body limits for paths no route has: {sorted(unknown)}"
    idempotent = runtime.engine is not None and accepts_tokens
    if idempotent:
        app.add_middleware(
            Idempotency,
            engine=runtime.db,
            keep_seconds=settings.idempotency_hours * 3600,
        )
    app.add_middleware(BodyLimit, default=DEFAULT_BODY_LIMIT, limits=limits)
    instrument_app(app, runtime.engine, runtime.tracer_provider, sample_ratio=settings.trace_sample_ratio)
    _document_errors(app, rate_limited=rate_limited, body_limits=limits, idempotent=idempotent)
    return app


_FIELD_ERRORS = {
    "title": "FieldErrors",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {
                    "field": {"type": "string", "description": "the field, dotted (`candidates.3.id_number`)"},
                    "reason": {"type": "string", "description": "why it was refused"},
                },
            },
        }
    },
}
_MESSAGE = {
    "title": "ErrorMessage",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "description": "what was refused, and why"}},
}
_ERRORS = {
    401: "no bearer token, or one that is invalid, expired, too long-lived or missing a claim its role needs",
    403: "a token of another province, or the token's role or region may not do this (the message names who may)",
    404: "nothing of that id here",
    409: "the step does not fit the current state (someone else took it, or it was taken already), or a request "
    "with the same Idempotency-Key is still in progress",
    413: "the request body is larger than this operation takes; nothing was read past the limit",
    422: "the request was refused: every field at fault, each with its reason; nothing was changed",
    429: "past the fair-use share: wait the Retry-After seconds",
}


_IDEMPOTENCY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "a key of the client's choosing for this one request: a retry with the same key (same token, "
    "method and path) gets the first answer (`Idempotent-Replayed: true`) and the step is not taken again; the "
    "same key with another body is 422; while the first is running, 409. Kept for IDEMPOTENCY_HOURS (24)",
}


def _document_errors(
    app: FastAPI, *, rate_limited: bool, body_limits: Mapping[str, int] | None = None, idempotent: bool = False
) -> None:
    """Every operation in the OpenAPI document lists the errors it can answer with their body shape: 422 as
    `{"detail": [{"field", "reason"}]}` (what `_validation_error` and `_field_error` send, not FastAPI's
    default `{"loc", "msg", "type"}`), the others as `{"detail": "..."}`; 413 (with the limit) where a body is
    taken; the `Idempotency-Key` header on every operation that changes something (`idempotent`)."""
    limits = body_limits or {}
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for default in ("HTTPValidationError", "ValidationError"):
            schemas.pop(default, None)
        schemas["FieldErrors"] = _FIELD_ERRORS
        schemas["ErrorMessage"] = _MESSAGE
        for path, item in schema.get("paths", {}).items():
            for method, operation in item.items():
                if method not in {"get", "post", "put", "patch", "delete"}:
                    continue
                health = "health" in operation.get("tags", [])
                codes: set[int] = set()
                if operation.get("security"):
                    codes |= {401, 403}
                if "{" in path:
                    codes.add(404)
                if method != "get":
                    codes.add(409)
                if operation.get("parameters") or operation.get("requestBody"):
                    codes.add(422)
                if rate_limited and not health:
                    codes.add(429)
                if operation.get("requestBody") or path in limits:
                    codes.add(413)
                if idempotent and method != "get" and not health:
                    parameters = operation.setdefault("parameters", [])
                    if not any(p.get("name") == IDEMPOTENCY_HEADER for p in parameters):
                        parameters.append(_IDEMPOTENCY_PARAMETER)
                    codes.add(422)
                responses = operation.setdefault("responses", {})
                for code in sorted(codes | {int(c) for c in responses if c.isdigit() and int(c) in _ERRORS}):
                    shape = "FieldErrors" if code == 422 else "ErrorMessage"
                    existing = responses.get(str(code), {})
                    description = _ERRORS[code] if code == 422 else existing.get("description") or _ERRORS[code]
                    if code == 413:
                        description = f"{_ERRORS[413]} ({limits.get(path, DEFAULT_BODY_LIMIT)} bytes)"
                    responses[str(code)] = {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}},
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Makes the router's routes the app's own. `include_router` would keep the router as a node that FastAPI
    (since 0.137) matches twice on every request, a tenth of a public lookup (bench/query.md); the services'
    routers carry nothing of their own (prefix, dependencies, lifespan) that the node would add. Unlike
    included routes, these do not see `app.dependency_overrides`: only the public query uses this."""
    assert not (router.prefix or router.dependencies or router.on_startup or router.on_shutdown), router
    app.router.routes.extend(router.routes)


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


async def stop(runtime: Runtime[Any]) -> None:
    """Stops the relay, then the broker's consumers and producer, then the service's own parts, each within
    `stop_step_seconds`. A Kafka consumer's stop waits for its group coordination to finish (a rebalance in
    progress, the leave-group request), which a broker can hold for many seconds; past the bound the step is
    cancelled and logged, and the rest still stops. Nothing accepted is lost: a change and its event are
    committed together, and an event not yet marked sent, or an offset not yet committed, is delivered again."""
    bound = runtime.settings.stop_step_seconds
    if runtime.relay is not None:
        await _within(bound, "outbox relay", runtime.relay.stop())
    if runtime.publishers is not None:
        await _within(bound, "relay producer", runtime.publishers.stop())
    await _within(bound, "kafka broker", runtime.broker.stop())
    for hook in runtime.on_stop:
        await _within(bound, getattr(hook, "__qualname__", "stop hook"), _maybe_await(hook()))
    runtime.tracer_provider.force_flush(timeout_millis=int(bound * 1000))


async def _within(seconds: float, what: str, step: Awaitable[None]) -> None:
    started = time.monotonic()
    try:
        await asyncio.wait_for(step, timeout=seconds)
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; cancelled, shutting down the rest", what, seconds)
    except Exception:
        log.exception("%s failed to stop; shutting down the rest", what)
    else:
        took = time.monotonic() - started
        if took > seconds / 4:
            log.warning("%s took %.1f s to stop", what, took)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 that names each field and the reason, in one flat list a form can show (`body` for the body itself)."""
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "reason": e["msg"]}
        for e in error.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


# What FastAPI answers 400 "There was an error parsing the body" for, besides malformed JSON (which it reports as a
# validation error): a body that is not UTF-8, or nested too deep for Python's parser to read.
_UNREADABLE_BODY = {
    UnicodeDecodeError: "not UTF-8 text: a JSON body is UTF-8",
    RecursionError: "nested too deep to read",
}


async def _http_error(request: Request, error: Exception) -> Response:
    """FastAPI's answer, but for a JSON body it could not read: 422 naming the body and why, as for any other bad
    request, instead of a bare 400."""
    assert isinstance(error, StarletteHTTPException)
    reason = _UNREADABLE_BODY.get(type(error.__cause__)) if error.status_code == 400 else None
    if reason is not None:
        return JSONResponse(status_code=422, content={"detail": [{"field": "body", "reason": reason}]})
    return await http_exception_handler(request, error)


async def _field_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, FieldError | FieldErrors)
    errors = error.errors if isinstance(error, FieldErrors) else [error]
    return JSONResponse(status_code=422, content={"detail": [{"field": e.field, "reason": e.reason} for e in errors]})


async def _conflict(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(error)})


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(error)})


async def _forbidden(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(status_code=403, content={"detail": str(error)})


def _clock_router() -> APIRouter:
    router = APIRouter(tags=["clock"])

    @router.get("/clock", response_model=ClockReading)
    def read_clock(runtime: RuntimeDep) -> ClockReading:
        """The date this service works by: the real date, or a training deployment's moved one."""
        return runtime.clock.reading()

    @router.post(
        "/clock",
        response_model=ClockReading,
        dependencies=[require_role(Role.PROVINCE_OFFICIAL)],
        responses={403: {"description": "not a province official, or the clock of this deployment is real"}},
    )
    def move_clock(move: ClockMove, runtime: RuntimeDep) -> ClockReading:
        """Moves the province's date on for all its services (training and demo deployments only)."""
        if not runtime.settings.adjustable_clock:
            raise HTTPException(
                403,
                detail="this deployment runs on the real date; only a training or demo "
                "deployment (ADJUSTABLE_CLOCK) moves its clock",
            )
        reading = runtime.clock.move_on(move.days)
        log.warning(
            "province %s clock moved on %s days: today is %s", runtime.settings.province, move.days, reading.today
        )
        return reading

    return router


class CalendarKnown(BaseModel):
    arrangement_known_until: int = Field(description="the last year whose official holiday arrangement is known")
    provisional_after: str = Field(description="the day after which working days are counted provisionally")
    note: str


class Readiness(BaseModel):
    """What `/readyz` answers, ready (200) or not (503)."""

    ready: bool
    checks: dict[str, bool] = Field(description="each dependency, and whether it answers")
    calendar: CalendarKnown


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={
            503: {
                "model": Readiness,
                "description": "not ready: `checks` names what does not answer (the database or Redis, the Kafka "
                "broker, the outbox relay, the read model)",
            }
        },
    )
    async def readyz(request: Request, response: Response) -> Readiness:
        """Ready only when the database (or Redis) and the Kafka broker answer. `calendar` says up to which year
        the official holiday arrangement is known: working days counted after it are provisional (statutory
        holidays only, make-up days unknown)."""
        runtime: Runtime[Any] = request.app.state.runtime
        checks: dict[str, bool] = {}
        if runtime.engine is not None:
            checks["database"] = await asyncio.to_thread(database_answers, runtime.engine)
        checks["kafka"] = await runtime.broker.ping(timeout=2.0)
        if runtime.relay is not None:
            checks["outbox relay"] = runtime.relay.last_error is None
        for check in runtime.readiness_checks:
            name, ok = await check()
            checks[name] = ok
        ready = all(checks.values())
        response.status_code = 200 if ready else 503
        known_until = last_year_known(runtime.clock.today())
        calendar = CalendarKnown(
            arrangement_known_until=known_until,
            provisional_after=f"{known_until}-12-31",
            note=f"working days after {known_until} count the statutory holidays only; the make-up days "
            "(调休) are not yet known",
        )
        return Readiness(ready=ready, checks=checks, calendar=calendar)

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi(request: Request) -> Response:
        """The service's AsyncAPI document: every topic it publishes and consumes, with payload schemas."""
        return Response(asyncapi_json(request.app.state.runtime), media_type="application/json")

    return router


def asyncapi_json(runtime: Runtime[Any]) -> str:
    settings = runtime.settings
    spec = AsyncAPI(
        runtime.broker,
        title=f"skillcert {settings.service_name}",
        version="1.0.0",
        description=f"Events of the {settings.service_name} service (province {settings.province}).",
    )
    return spec.to_specification().to_json()
