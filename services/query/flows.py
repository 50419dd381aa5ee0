"""The query service's consumers: every province's certificates, revocations, signing keys, organizations,
batch plans and what supervision publishes (inspection plans, draws, inspection results, star ratings), by topic
pattern (local topics and MirrorMaker 2 copies `<alias>.<topic>` alike), into the read model in Redis. The store's
writes are idempotent, so these need no apply-once record."""

from __future__ import annotations

from typing import Any

from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    DRAW_MADE,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_RATED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
    BatchPlanApproved,
    CertificateIssued,
    CertificateRevoked,
    DrawMade,
    Envelope,
    EventContract,
    InspectionPlanPublished,
    InspectionRecorded,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationRated,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    SigningKeyPublished,
)
from shared.platform.bus import Consumer

from .store import CertificateStore

consumer: Consumer[CertificateStore] = Consumer("query")


@consumer.on(CERTIFICATE_ISSUED, all_provinces=True)
async def on_certificate_issued(store: CertificateStore, event: Envelope[CertificateIssued]) -> None:
    await store.apply_issued(event.payload)


@consumer.together(CERTIFICATE_ISSUED)
async def on_certificates_issued(store: CertificateStore, events: list[Envelope[CertificateIssued]]) -> None:
    """A batch's signed certificates arrive hundreds at a time: stored in one Redis transaction."""
    await store.apply_issued_many([event.payload for event in events])


@consumer.on(CERTIFICATE_REVOKED, all_provinces=True)
async def on_certificate_revoked(store: CertificateStore, event: Envelope[CertificateRevoked]) -> None:
    await store.apply_revoked(event.payload)


@consumer.on(SIGNING_KEY_PUBLISHED, all_provinces=True)
async def on_signing_key_published(store: CertificateStore, event: Envelope[SigningKeyPublished]) -> None:
    await store.apply_signing_key(event.payload)


@consumer.on(ORGANIZATION_FILED, all_provinces=True)
async def on_organization_filed(store: CertificateStore, event: Envelope[OrganizationFiled]) -> None:
    await store.apply_filed(event)


@consumer.on(ORGANIZATION_STATUS_CHANGED, all_provinces=True)
async def on_organization_status_changed(store: CertificateStore, event: Envelope[OrganizationStatusChanged]) -> None:
    await store.apply_status_changed(event)


@consumer.on(ORGANIZATION_DETAILS_CHANGED, all_provinces=True)
async def on_organization_details_changed(store: CertificateStore, event: Envelope[OrganizationDetailsChanged]) -> None:
    await store.apply_details_changed(event)


@consumer.on(ORGANIZATION_SCOPE_CHANGED, all_provinces=True)
async def on_organization_scope_changed(store: CertificateStore, event: Envelope[OrganizationScopeChanged]) -> None:
    await store.apply_scope_changed(event)


@consumer.on(BATCH_PLAN_APPROVED, all_provinces=True)
async def on_batch_plan_approved(store: CertificateStore, event: Envelope[BatchPlanApproved]) -> None:
    await store.apply_batch_plan(event.payload, event.province)


@consumer.on(INSPECTION_PLAN_PUBLISHED, all_provinces=True)
async def on_inspection_plan_published(store: CertificateStore, event: Envelope[InspectionPlanPublished]) -> None:
    await store.apply_inspection_plan(event.payload, event.province)


@consumer.on(DRAW_MADE, all_provinces=True)
async def on_draw_made(store: CertificateStore, event: Envelope[DrawMade]) -> None:
    await store.apply_draw(event)


@consumer.on(INSPECTION_RECORDED, all_provinces=True)
async def on_inspection_recorded(store: CertificateStore, event: Envelope[InspectionRecorded]) -> None:
    await store.apply_inspection(event.payload, event.province)


@consumer.on(ORGANIZATION_RATED, all_provinces=True)
async def on_organization_rated(store: CertificateStore, event: Envelope[OrganizationRated]) -> None:
    await store.apply_rating(event)


# What the rebuild watch waits for (rebuild.py): every topic consumed here, so the ratings too.
CONTRACTS: tuple[EventContract[Any], ...] = tuple(consumer.contracts)
