"""Registry's event consumers: supervision's sanctions on this province's organizations, and the expert panels
it draws for their technical assessment."""

from __future__ import annotations

from shared.kernel.events import EXPERTS_DISPATCHED, SANCTION_IMPOSED, Envelope, ExpertsDispatched, SanctionImposed
from shared.platform.auth import Actor
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from . import service
from .models import OrganizationStatus
from .settings import RegistrySettings

consumer: Consumer[Unit[RegistrySettings]] = Consumer("registry")

SUPERVISION = Actor("supervision", "inspector")
MEASURE_ACTIONS = {"suspension": "suspend", "revocation": "revoke"}


@consumer.on(SANCTION_IMPOSED)
def on_sanction_imposed(unit: Unit[RegistrySettings], event: Envelope[SanctionImposed]) -> None:
    """Suspension and revocation change the state; rectification is recorded on the trail only."""
    sanction = event.payload
    organization = service.get_filed(unit=unit, filing_code=sanction.filing_code)
    reason = f"{sanction.measure}: {sanction.reason} (decided {sanction.decided_on})"
    action = MEASURE_ACTIONS.get(sanction.measure)
    if action is None or organization.status is OrganizationStatus.REVOKED:
        if sanction.rectify_by:
            reason += f", rectify by {sanction.rectify_by}"
        service.record_measure(
            unit=unit, organization=organization, measure=sanction.measure, reason=reason, actor=SUPERVISION
        )
        return
    if action == "suspend" and organization.status is OrganizationStatus.SUSPENDED:
        return
    service.sanction(unit=unit, organization=organization, action=action, reason=reason, actor=SUPERVISION)


@consumer.on(EXPERTS_DISPATCHED)
def on_experts_dispatched(unit: Unit[RegistrySettings], event: Envelope[ExpertsDispatched]) -> None:
    """The panel drawn for an application's technical assessment [L8, Z五(五)]: the latest event for the
    application is the whole panel and replaces the one before. Panels for other purposes are recognition's.

    A subject that is not `application-<id>` of an application here raises (FieldError, NotFound): no
    delivery again can mend it."""
    dispatched = event.payload
    if dispatched.purpose != "technical_assessment":
        return
    organization = service.get_application_of_panel(unit=unit, subject=dispatched.subject)
    service.replace_panel(unit=unit, organization=organization, dispatched=dispatched, dispatched_at=event.occurred_at)
