"""The certificates service: `uvicorn --factory services.certificates.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.events import CERTIFICATE_ISSUED
from shared.service import build_runtime, create_app

from . import flows
from .settings import CertificatesSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: CertificatesSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or CertificatesSettings()
    runtime = build_runtime(settings, produces=[CERTIFICATE_ISSUED], tracer_provider=tracer_provider)
    flows.register(runtime)
    return create_app(runtime, title="skillcert certificates", routers=[router], migrations_dir=MIGRATIONS)
