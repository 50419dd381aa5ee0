"""Certificates' start-up and scheduled work: a first start creates the province's signing key, so the trust
list names it before any batch (and reading the status list never has to create one)."""

from __future__ import annotations

from shared.platform.runtime import Runtime

from . import signing
from .settings import CertificatesSettings


def ensure_signing_key(runtime: Runtime[CertificatesSettings]) -> None:
    with runtime.unit_of_change() as unit:
        signing.current_key(unit=unit)


def start(runtime: Runtime[CertificatesSettings]) -> None:
    runtime.on_start.append(lambda: ensure_signing_key(runtime))
