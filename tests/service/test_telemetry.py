"""Tracing is sampled at the HTTP edge: a caller's trace is always continued, a share of the others is traced,
and an untraced request runs without the OpenTelemetry middleware or any instrumentation beneath it."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.platform.telemetry import FASTAPI_NATIVE_TELEMETRY_OFF, instrument_app, make_tracer_provider

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def traced_app(sample_ratio: float) -> tuple[FastAPI, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = make_tracer_provider("test", "33", exporter=exporter, sample_ratio=sample_ratio)
    app = FastAPI(telemetry=FASTAPI_NATIVE_TELEMETRY_OFF)  # as shared.platform.app.create_app makes every app

    @app.get("/inside")
    async def inside() -> dict[str, bool]:
        # What an instrumentation beneath the middleware would see.
        with provider.get_tracer("test").start_as_current_span("work", kind=SpanKind.INTERNAL) as span:
            return {"recording": span.is_recording(), "instrumented": is_instrumentation_enabled()}

    instrument_app(app, None, provider, sample_ratio=sample_ratio)
    app.state.provider = provider
    return app, exporter


async def get(app: FastAPI, headers: dict[str, str] | None = None) -> dict[str, bool]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        answer = await client.get("/inside", headers=headers or {})
    app.state.provider.force_flush()
    return answer.json()  # type: ignore[no-any-return]


async def test_an_untraced_request_records_nothing_and_a_callers_trace_is_continued() -> None:
    app, exporter = traced_app(sample_ratio=0)
    for _ in range(20):
        assert await get(app) == {"recording": False, "instrumented": False}
    assert exporter.get_finished_spans() == ()

    continued = await get(app, {"traceparent": f"00-{CALLER_TRACE}-b7ad6b7169203331-01"})
    assert continued == {"recording": True, "instrumented": True}
    spans = exporter.get_finished_spans()
    assert spans and {format(span.context.trace_id, "032x") for span in spans} == {CALLER_TRACE}
    assert any(span.kind is SpanKind.SERVER for span in spans)


async def test_every_request_is_traced_at_ratio_one() -> None:
    app, exporter = traced_app(sample_ratio=1)
    assert (await get(app))["recording"]
    server = [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]
    assert len(server) == 1 and server[0].parent is None


async def test_an_untraced_request_records_nothing_with_a_global_provider_either(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deployment that also sets the global provider (opentelemetry-instrument does): FastAPI's own telemetry
    # would trace every request there, beside the sampling.
    global_exporter = InMemorySpanExporter()
    global_provider = make_tracer_provider("global", "33", exporter=global_exporter)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: global_provider)
    app, exporter = traced_app(sample_ratio=0)
    for _ in range(5):
        assert await get(app) == {"recording": False, "instrumented": False}
    global_provider.force_flush()
    assert global_exporter.get_finished_spans() == exporter.get_finished_spans() == ()
