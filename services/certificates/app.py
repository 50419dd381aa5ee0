"""The certificates service: `uvicorn --factory services.certificates.app:create`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from sqlmodel import Session

from shared.kernel.events import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, SIGNING_KEY_PUBLISHED
from shared.platform.app import build_runtime, create_app

from . import flows, signing
from .settings import CertificatesSettings
from .views import router

MIGRATIONS = Path(__file__).parent / "migrations"


def create(settings: CertificatesSettings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    settings = settings or CertificatesSettings()
    runtime = build_runtime(settings, produces=[CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, SIGNING_KEY_PUBLISHED],
                            tracer_provider=tracer_provider)
    flows.register(runtime, settings)

    def ensure_signing_key() -> None:
        """A first start creates the province's signing key, so the trust list names it before any batch."""
        with Session(runtime.db) as session:
            signing.current_key(session=session, settings=settings, today=runtime.clock.today())
            session.commit()

    runtime.on_start.append(ensure_signing_key)
    return create_app(runtime, title="skillcert certificates", routers=[router], migrations_dir=MIGRATIONS)
