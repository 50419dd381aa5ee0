"""The recognition service: `uvicorn --factory services.recognition.app:create`."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
)
from shared.platform.app import create_app
from shared.platform.auth import PARTNER_HEADER
from shared.platform.limits import MIB
from shared.platform.runtime import build_runtime

from . import flows, scheduled
from .prior_certificates import PriorCertificates
from .settings import RecognitionSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"
# A candidate upload streams to a spooled file: 200,000 rows of every column fit (5 MB for 100,000 usual rows).
BODY_LIMITS = {"/batches/{batch_id}/candidates": 64 * MIB}
PRODUCES = (
    BATCH_PLAN_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    BATCH_RESULTS_APPROVED,
    BATCH_RESULT_CORRECTED,
)


def create(
    settings: RecognitionSettings | None = None,
    tracer_provider: TracerProvider | None = None,
    query_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """`query_client` reaches the shared query service; by default one for `settings.query_url`."""
    settings = settings or RecognitionSettings()
    runtime = build_runtime(settings, produces=PRODUCES, consumer=flows.consumer, tracer_provider=tracer_provider)
    scheduled.start(runtime)
    partner = {PARTNER_HEADER: settings.query_partner_key.get_secret_value()} if settings.query_partner_key else {}
    client = query_client or httpx.AsyncClient(
        base_url=settings.query_url, timeout=settings.query_timeout_seconds, headers=partner
    )
    runtime.on_stop.append(client.aclose)
    app = create_app(
        runtime, title="skillcert recognition", routers=[router], migrations_dir=MIGRATIONS, body_limits=BODY_LIMITS
    )
    app.state.prior_certificates = PriorCertificates(client)
    return app
