"""OpenTelemetry set-up: one tracer provider per service, handed to every instrumentation.

Spans go to an OTLP/HTTP collector when `otlp_endpoint` is set; tests pass their own exporter.
Trace context crosses Kafka in message headers (FastStream's KafkaTelemetryMiddleware) and crosses the
outbox in the row's headers column, so one trace covers a request and every event it causes.

Sampling happens at the HTTP edge (`SampledTracing`): a request that carries a caller's trace context is
always traced (the caller's sampled flag decides), and `sample_ratio` of the others. An untraced request
skips the OpenTelemetry middleware and every instrumentation beneath it, which costs more than a public
lookup itself (bench/query.md). Other root spans (an event without trace context) are kept by the ratio.

An HTTP server span carries the path, never the query string (`without_query_string`): what a client puts there
(a name, an ID number) is not for the trace collector.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.util.types import Attributes
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

# FastAPI's own telemetry traces every request through the global providers once any is set (as
# `opentelemetry-instrument` does): a second, unsampled path beside ours. Every service app turns it off.
FASTAPI_NATIVE_TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class SampledAtTheEdge(Sampler):
    """Root spans: an HTTP server span exists only for a request `SampledTracing` chose, so it is kept; any
    other root (an event that arrived without trace context) by the ratio."""

    def __init__(self, ratio: float):
        self.by_ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        sampler = ALWAYS_ON if kind is SpanKind.SERVER else self.by_ratio
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"SampledAtTheEdge{{{self.by_ratio.get_description()}}}"


def make_tracer_provider(
    service_name: str,
    province: str,
    *,
    otlp_endpoint: str | None = None,
    exporter: SpanExporter | None = None,
    sample_ratio: float = 1.0,
) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.namespace": f"skillcert-{province}"}),
        sampler=ParentBased(SampledAtTheEdge(sample_ratio)),
    )
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    return provider


class SampledTracing:
    """Sends a request through the traced middleware stack when it carries a caller's trace context or is
    drawn by `ratio`; otherwise through the plain stack with every instrumentation suppressed."""

    def __init__(self, traced: ASGIApp, untraced: ASGIApp, ratio: float):
        self.traced, self.untraced, self.ratio = traced, untraced, ratio

    def chooses(self, scope: Scope) -> bool:
        if scope["type"] != "http" or self.ratio >= 1:
            return True
        for name, _ in scope["headers"]:
            if name == b"traceparent":
                return True
        return random.random() < self.ratio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.chooses(scope):
            await self.traced(scope, receive, send)
            return
        with suppress_instrumentation():
            await self.untraced(scope, receive, send)


QUERY_STRING_ATTRIBUTES = ("http.url", "url.full", "http.target")
REDACTED_QUERY = "REDACTED"


def without_query_string(span: Span, scope: dict[str, Any]) -> None:
    """The server span's request hook: the URL attributes the ASGI instrumentation set from the request, without
    their query string, and `url.query` (newer semantic conventions) redacted."""
    if not scope.get("query_string") or not span.is_recording():
        return
    attributes: Any = getattr(span, "attributes", None) or {}
    for name in QUERY_STRING_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(name, value.split("?", 1)[0])
    if "url.query" in attributes:
        span.set_attribute("url.query", REDACTED_QUERY)


def instrument_app(app: FastAPI, engine: Engine | None, provider: TracerProvider, *, sample_ratio: float) -> None:
    """`sample_ratio` below 1 sends the requests not drawn past the instrumentation altogether (the sampler alone
    would still pay for the middleware); at 1 every request takes the traced stack."""
    build_untraced = app.build_middleware_stack
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz", server_request_hook=without_query_string
    )
    build_traced = app.build_middleware_stack

    def build_sampled() -> ASGIApp:
        return SampledTracing(build_traced(), build_untraced(), sample_ratio)

    if sample_ratio < 1:
        app.build_middleware_stack = build_sampled  # type: ignore[method-assign]
    if engine is not None:
        SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
