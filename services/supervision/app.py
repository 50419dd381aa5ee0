"""The supervision service: `uvicorn --factory services.supervision.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.platform.app import build_runtime, create_app

from . import flows
from .settings import SupervisionSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: SupervisionSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or SupervisionSettings()
    runtime = build_runtime(settings, tracer_provider=tracer_provider)
    flows.register(runtime)
    return create_app(runtime, title="skillcert supervision", routers=[router], migrations_dir=MIGRATIONS)
