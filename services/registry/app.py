"""The registry service: `uvicorn --factory services.registry.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.kernel.events import (
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
)
from shared.platform.app import create_app
from shared.platform.runtime import build_runtime

from . import flows, scheduled
from .settings import RegistrySettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"
PRODUCES = (
    ORGANIZATION_FILED,
    ORGANIZATION_STATUS_CHANGED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_DETAILS_CHANGED,
)


def create(settings: RegistrySettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    runtime = build_runtime(
        settings or RegistrySettings(), produces=PRODUCES, consumer=flows.consumer, tracer_provider=tracer_provider
    )
    scheduled.start(runtime)
    return create_app(runtime, title="skillcert registry", routers=[router], migrations_dir=MIGRATIONS)
