"""The supervision service: `uvicorn --factory services.supervision.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    DRAW_MADE,
    EXPERT_SHARED,
    EXPERTS_DISPATCHED,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_RATED,
    SANCTION_IMPOSED,
)
from shared.platform.app import create_app
from shared.platform.runtime import build_runtime

from . import flows, scheduled
from .settings import SupervisionSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"
PRODUCES = (
    EXPERT_SHARED,
    INSPECTION_PLAN_PUBLISHED,
    DRAW_MADE,
    EXPERTS_DISPATCHED,
    INSPECTION_RECORDED,
    SANCTION_IMPOSED,
    CREDIT_ENTRY_RECORDED,
    ORGANIZATION_RATED,
)


def create(settings: SupervisionSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()
    runtime = build_runtime(settings, produces=PRODUCES, consumer=flows.consumer, tracer_provider=tracer_provider)
    scheduled.start(runtime)
    return create_app(runtime, title="skillcert supervision", routers=[router], migrations_dir=MIGRATIONS)
