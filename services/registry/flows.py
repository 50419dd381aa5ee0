"""Registry's event consumers: supervision's sanctions on this province's organizations, the expert panels it
draws for their technical assessment, its credit record (checked when an organization applies and is filed) and
its star ratings (shown in the catalogue)."""

from __future__ import annotations

from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    EXPERTS_DISPATCHED,
    ORGANIZATION_RATED,
    SANCTION_IMPOSED,
    CreditEntryRecorded,
    Envelope,
    ExpertsDispatched,
    OrganizationRated,
    SanctionImposed,
)
from shared.platform.auth import Actor
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from . import service
from .settings import RegistrySettings

consumer: Consumer[Unit[RegistrySettings]] = Consumer("registry")

SUPERVISION = Actor("supervision", "inspector")


@consumer.on(SANCTION_IMPOSED)
def on_sanction_imposed(unit: Unit[RegistrySettings], event: Envelope[SanctionImposed]) -> None:
    """Suspension, its lifting, revocation and removal from the catalogue change the state; rectification is on
    the trail only (service.impose). A measure for a code not filed here raises NotFound: it is delivered again."""
    organization = service.get_filed(unit=unit, filing_code=event.payload.filing_code)
    service.impose(unit=unit, organization=organization, sanction=event.payload, actor=SUPERVISION)


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


@consumer.on(CREDIT_ENTRY_RECORDED)
def on_credit_entry_recorded(unit: Unit[RegistrySettings], event: Envelope[CreditEntryRecorded]) -> None:
    """An entry of the credit record, whole as it stands (the latest for its id replaces it) [L6(一), G四(一)]."""
    service.keep_credit_entry(unit=unit, entry=event.payload, recorded_at=event.occurred_at)


@consumer.on(ORGANIZATION_RATED)
def on_organization_rated(unit: Unit[RegistrySettings], event: Envelope[OrganizationRated]) -> None:
    """An organization's star rating for a year [Z五(五)]: the latest year's is shown in the catalogue."""
    service.keep_rating(unit=unit, rated=event.payload, recorded_at=event.occurred_at)
