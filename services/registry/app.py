"""The registry service: `uvicorn --factory services.registry.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.kernel.events import ORGANIZATION_FILED, ORGANIZATION_SCOPE_CHANGED, ORGANIZATION_STATUS_CHANGED
from shared.platform.app import build_runtime, create_app

from . import flows
from .settings import RegistrySettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: RegistrySettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    settings.policy  # noqa: B018 - load and validate the province's policy now: refuse to start without it
    runtime = build_runtime(
        settings, produces=[ORGANIZATION_FILED, ORGANIZATION_STATUS_CHANGED, ORGANIZATION_SCOPE_CHANGED],
        tracer_provider=tracer_provider,
    )
    flows.register(runtime)
    flows.start_expiry(runtime, settings.expiry_check_seconds)
    return create_app(runtime, title="skillcert registry", routers=[router], migrations_dir=MIGRATIONS)
