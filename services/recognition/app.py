"""The recognition service: `uvicorn --factory services.recognition.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.events import BATCH_RESULTS_APPROVED
from shared.service import build_runtime, create_app

from . import flows
from .settings import RecognitionSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: RecognitionSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or RecognitionSettings()
    runtime = build_runtime(settings, produces=[BATCH_RESULTS_APPROVED], tracer_provider=tracer_provider)
    flows.register(runtime)
    return create_app(runtime, title="skillcert recognition", routers=[router], migrations_dir=MIGRATIONS)
