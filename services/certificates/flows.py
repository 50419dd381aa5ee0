"""Certificates' event consumers: approved batches and corrections of this province; the trust list,
revocations and organizations' filing history of every province (to verify any province's credential)."""

from __future__ import annotations

from shared.kernel.events import (
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    CERTIFICATE_REVOKED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
    BatchResultCorrected,
    BatchResultsApproved,
    CertificateRevoked,
    Envelope,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    SigningKeyPublished,
)
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from . import service
from .settings import CertificatesSettings

consumer: Consumer[Unit[CertificatesSettings]] = Consumer("certificates")


@consumer.on(BATCH_RESULTS_APPROVED)
def on_batch_results_approved(unit: Unit[CertificatesSettings], event: Envelope[BatchResultsApproved]) -> None:
    service.receive_batch_part(unit=unit, approved=event.payload)


@consumer.on(BATCH_RESULT_CORRECTED)
def on_batch_result_corrected(unit: Unit[CertificatesSettings], event: Envelope[BatchResultCorrected]) -> None:
    service.apply_correction(unit=unit, correction=event.payload)


@consumer.on(SIGNING_KEY_PUBLISHED, all_provinces=True)
def on_signing_key_published(unit: Unit[CertificatesSettings], event: Envelope[SigningKeyPublished]) -> None:
    service.record_signing_key(unit=unit, published=event.payload)


@consumer.on(CERTIFICATE_REVOKED, all_provinces=True)
def on_certificate_revoked(unit: Unit[CertificatesSettings], event: Envelope[CertificateRevoked]) -> None:
    service.record_revocation(unit=unit, revoked=event.payload)


@consumer.on(ORGANIZATION_FILED, all_provinces=True)
def on_organization_filed(unit: Unit[CertificatesSettings], event: Envelope[OrganizationFiled]) -> None:
    service.record_filing(unit=unit, filed=event.payload)


@consumer.on(ORGANIZATION_STATUS_CHANGED, all_provinces=True)
def on_organization_status_changed(
    unit: Unit[CertificatesSettings], event: Envelope[OrganizationStatusChanged]
) -> None:
    service.record_status_change(unit=unit, changed=event.payload, on=event.effective_on)


@consumer.on(ORGANIZATION_SCOPE_CHANGED, all_provinces=True)
def on_organization_scope_changed(unit: Unit[CertificatesSettings], event: Envelope[OrganizationScopeChanged]) -> None:
    service.record_scope_change(unit=unit, changed=event.payload, on=event.effective_on)
