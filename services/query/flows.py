"""The query service's consumers: every province's certificates, revocations, signing keys, organizations and
batch plans, by topic pattern (local topics and MirrorMaker 2 copies `<alias>.<topic>` alike)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
    Envelope,
    EventContract,
)
from shared.platform.app import Runtime

from .store import CertificateStore

CONSUMER = "query"
CONTRACTS: tuple[EventContract[Any], ...] = (
    CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, SIGNING_KEY_PUBLISHED, ORGANIZATION_FILED, ORGANIZATION_STATUS_CHANGED,
    ORGANIZATION_SCOPE_CHANGED, BATCH_PLAN_APPROVED,
)


def handlers(store: CertificateStore) -> dict[str, Callable[[Envelope[Any]], Awaitable[None]]]:
    """By event type."""
    async def issued(envelope: Envelope[Any]) -> None:
        await store.apply_issued(envelope.payload)

    async def revoked(envelope: Envelope[Any]) -> None:
        await store.apply_revoked(envelope.payload)

    async def key_published(envelope: Envelope[Any]) -> None:
        await store.apply_signing_key(envelope.payload)

    async def plan_approved(envelope: Envelope[Any]) -> None:
        await store.apply_batch_plan(envelope.payload, envelope.province)

    return {
        CERTIFICATE_ISSUED.type: issued,
        CERTIFICATE_REVOKED.type: revoked,
        SIGNING_KEY_PUBLISHED.type: key_published,
        ORGANIZATION_FILED.type: store.apply_filed,
        ORGANIZATION_STATUS_CHANGED.type: store.apply_status_changed,
        ORGANIZATION_SCOPE_CHANGED.type: store.apply_scope_changed,
        BATCH_PLAN_APPROVED.type: plan_approved,
    }


def group_ids(base: str, model_id: str) -> dict[str, str]:
    """One consumer group per event kind and read model: a new Redis starts new groups, which read from the start."""
    return {contract.type: f"{base}-{model_id}-{contract.name}" for contract in CONTRACTS}


def register(runtime: Runtime, store: CertificateStore, groups: dict[str, str]) -> None:
    by_type = handlers(store)
    for contract in CONTRACTS:
        runtime.subscribe(contract, consumer=CONSUMER, group_id=groups[contract.type], handler=by_type[contract.type],
                          all_provinces=True)
