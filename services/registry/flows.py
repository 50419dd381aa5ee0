"""Registry's event consumers and its daily work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlmodel import Session

from shared.kernel.events import SANCTION_IMPOSED, Envelope, SanctionImposed
from shared.platform.app import Runtime
from shared.platform.auth import Actor

from . import service
from .models import OrganizationStatus, Transition

CONSUMER = "registry"
log = logging.getLogger(__name__)

MEASURE_ACTIONS = {"suspension": "suspend", "revocation": "revoke"}


def apply_sanction(session: Session, sanction: SanctionImposed, province: str) -> None:
    """Suspension and revocation change the state; rectification is recorded on the trail only."""
    organization = service.get_filed(session=session, filing_code=sanction.filing_code)
    actor = Actor("supervision", "inspector")
    reason = f"{sanction.measure}: {sanction.reason} (decided {sanction.decided_on})"
    action = MEASURE_ACTIONS.get(sanction.measure)
    if action is None or organization.status is OrganizationStatus.REVOKED:
        assert organization.id is not None
        if sanction.rectify_by:
            reason += f", rectify by {sanction.rectify_by}"
        session.add(Transition(organization_id=organization.id, from_status=organization.status,
                               to_status=organization.status, action=sanction.measure, reason=reason,
                               actor=actor.subject, actor_role=actor.role))
        return
    if action == "suspend" and organization.status is OrganizationStatus.SUSPENDED:
        return
    service._transition(session, organization, action, actor, province=province, reason=reason)


def register(runtime: Runtime) -> None:
    province = runtime.settings.province

    async def on_sanction_imposed(envelope: Envelope[Any]) -> None:
        await runtime.apply_once(CONSUMER, envelope, lambda session: apply_sanction(session, envelope.payload,
                                                                                     province))

    runtime.subscribe(SANCTION_IMPOSED, consumer=CONSUMER, group_id=f"skillcert-{province}-registry",
                      handler=on_sanction_imposed)


async def expire_periodically(runtime: Runtime, every_seconds: float) -> None:
    """Expires filings whose validity ended, at start and then every `every_seconds`."""
    while True:
        try:
            with Session(runtime.db) as session:
                expired = await asyncio.to_thread(service.expire_due, session=session,
                                                  province=runtime.settings.province)
            if expired:
                log.info("expired filings: %s", ", ".join(expired))
                runtime.wake_relay()
        except Exception:
            log.exception("expiry run failed; retrying at the next run")
        await asyncio.sleep(every_seconds)


def start_expiry(runtime: Runtime, every_seconds: float) -> None:
    tasks: list[asyncio.Task[None]] = []

    def start() -> None:
        tasks.append(asyncio.create_task(expire_periodically(runtime, every_seconds), name="filing-expiry"))

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    runtime.on_start.append(start)
    runtime.on_stop.append(stop)



