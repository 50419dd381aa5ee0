"""The certificates service: `uvicorn --factory services.certificates.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider

from shared.kernel.events import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, SIGNING_KEY_PUBLISHED
from shared.platform.app import create_app
from shared.platform.limits import MIB
from shared.platform.runtime import build_runtime

from . import flows, scheduled
from .service import MAX_PHOTO_BYTES
from .settings import CertificatesSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"
PRODUCES = (CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, SIGNING_KEY_PUBLISHED)
# A photo of up to MAX_PHOTO_BYTES, with a margin so that one just over is refused with its reason (422).
BODY_LIMITS = {"/certificates/{number}/photo": MAX_PHOTO_BYTES + MIB // 16}


def create(settings: CertificatesSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    runtime = build_runtime(
        settings or CertificatesSettings(), produces=PRODUCES, consumer=flows.consumer, tracer_provider=tracer_provider
    )
    scheduled.start(runtime)
    return create_app(
        runtime, title="skillcert certificates", routers=[router], migrations_dir=MIGRATIONS, body_limits=BODY_LIMITS
    )
