"""The query service's consumers: certificate issues and revocations from every province, by topic pattern."""

from __future__ import annotations

from typing import Any

from shared.events import CERTIFICATE_ISSUED, CERTIFICATE_REVOKED, Envelope
from shared.service import Runtime

from .store import CertificateStore

CONSUMER = "query"


def register(runtime: Runtime, store: CertificateStore, group_id: str) -> None:
    async def on_certificate_issued(envelope: Envelope[Any]) -> None:
        await store.apply_issued(str(envelope.id), envelope.payload)

    async def on_certificate_revoked(envelope: Envelope[Any]) -> None:
        await store.apply_revoked(str(envelope.id), envelope.payload)

    runtime.subscribe(
        CERTIFICATE_ISSUED, consumer=CONSUMER, group_id=group_id, handler=on_certificate_issued, all_provinces=True
    )
    runtime.subscribe(CERTIFICATE_REVOKED, consumer=CONSUMER, group_id=f"{group_id}-revocations",
                      handler=on_certificate_revoked, all_provinces=True)
