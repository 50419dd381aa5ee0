"""The registry service: `uvicorn --factory services.registry.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.events import ORGANIZATION_FILED
from shared.service import build_runtime, create_app

from .settings import RegistrySettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: RegistrySettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    runtime = build_runtime(settings, produces=[ORGANIZATION_FILED], tracer_provider=tracer_provider)
    return create_app(runtime, title="skillcert registry", routers=[router], migrations_dir=MIGRATIONS)
