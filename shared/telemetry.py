"""OpenTelemetry set-up: one tracer provider per service, handed to every instrumentation.

Spans go to an OTLP/HTTP collector when `otlp_endpoint` is set; tests pass their own exporter.
Trace context crosses Kafka in message headers (FastStream's KafkaTelemetryMiddleware) and crosses the
outbox in the row's headers column, so one trace covers a request and every event it causes.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from sqlalchemy import Engine


def make_tracer_provider(
    service_name: str, province: str, *, otlp_endpoint: str | None = None, exporter: SpanExporter | None = None,
    sample_ratio: float = 1.0,
) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name, "service.namespace": f"skillcert-{province}"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if exporter is None and otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    return provider


def instrument_app(app: FastAPI, engine: Engine | None, provider: TracerProvider) -> None:
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz")
    if engine is not None:
        SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
