"""Certificates' event consumers."""

from __future__ import annotations

from typing import Any

from shared.events import BATCH_RESULTS_APPROVED, Envelope
from shared.service import Runtime

from . import service

CONSUMER = "certificates"


def register(runtime: Runtime) -> None:
    province = runtime.settings.province

    async def on_batch_results_approved(envelope: Envelope[Any]) -> None:
        await runtime.apply_once(
            CONSUMER, envelope,
            lambda session: service.issue_for_batch(session=session, approved=envelope.payload, province=province),
        )

    runtime.subscribe(
        BATCH_RESULTS_APPROVED, consumer=CONSUMER, group_id=f"skillcert-{province}-certificates",
        handler=on_batch_results_approved,
    )
