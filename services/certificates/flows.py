"""Certificates' event consumers: approved batches and corrections of this province; the trust list,
revocations and organizations' filing history of every province (to verify any province's credential)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from shared.kernel.events import (
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    CERTIFICATE_REVOKED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
    Envelope,
    EventContract,
)
from shared.platform.app import Runtime

from . import service
from .settings import CertificatesSettings

CONSUMER = "certificates"
def register(runtime: Runtime, settings: CertificatesSettings) -> None:
    province = settings.province

    appliers: dict[str, Callable[[Session, Envelope[Any]], object]] = {
        BATCH_RESULTS_APPROVED.type: lambda session, envelope: service.receive_batch_part(
            session=session, approved=envelope.payload, settings=settings, today=runtime.clock.today()),
        BATCH_RESULT_CORRECTED.type: lambda session, envelope: service.apply_correction(
            session=session, correction=envelope.payload, settings=settings, today=runtime.clock.today()),
        SIGNING_KEY_PUBLISHED.type: lambda session, envelope: service.record_signing_key(
            session=session, published=envelope.payload),
        CERTIFICATE_REVOKED.type: lambda session, envelope: service.record_revocation(
            session=session, revoked=envelope.payload),
        ORGANIZATION_FILED.type: lambda session, envelope: service.record_filing(
            session=session, filed=envelope.payload),
        ORGANIZATION_STATUS_CHANGED.type: lambda session, envelope: service.record_status_change(
            session=session, changed=envelope.payload, on=envelope.occurred_on),
        ORGANIZATION_SCOPE_CHANGED.type: lambda session, envelope: service.record_scope_change(
            session=session, changed=envelope.payload, on=envelope.occurred_on),
    }

    async def on_event(envelope: Envelope[Any]) -> None:
        apply = appliers[envelope.type]
        await runtime.apply_once(CONSUMER, envelope, lambda session: apply(session, envelope))

    own: tuple[EventContract[Any], ...] = (BATCH_RESULTS_APPROVED, BATCH_RESULT_CORRECTED)
    every_province: tuple[EventContract[Any], ...] = (
        SIGNING_KEY_PUBLISHED, CERTIFICATE_REVOKED, ORGANIZATION_FILED, ORGANIZATION_STATUS_CHANGED,
        ORGANIZATION_SCOPE_CHANGED,
    )
    for contract in (*own, *every_province):
        # One group per topic: each topic's offsets and rebalances stay independent.
        runtime.subscribe(contract, consumer=CONSUMER, group_id=f"skillcert-{province}-certificates-{contract.name}",
                          handler=on_event, all_provinces=contract in every_province)
