"""Recognition's event consumers: its replica of the province's filed organizations (shared.platform.replicas),
what supervision sends about a batch: the expert panels it drew and its sealed inspection records, and its
credit record's entries of persons, against which a plan's staff are checked."""

from __future__ import annotations

from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    EXPERTS_DISPATCHED,
    INSPECTION_RECORDED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    CreditEntryRecorded,
    Envelope,
    ExpertsDispatched,
    InspectionRecorded,
    OrganizationDetailsChanged,
    OrganizationFiled,
)
from shared.platform import replicas
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from . import service
from .models import PanelPurpose
from .settings import RecognitionSettings

consumer: Consumer[Unit[RecognitionSettings]] = Consumer("recognition")


@consumer.on(ORGANIZATION_FILED)
def on_organization_filed(unit: Unit[RecognitionSettings], event: Envelope[OrganizationFiled]) -> None:
    """The shared replica, and who approves the organization's batch plans: the division that selected it, the
    province when the filing does not say [L20]."""
    replicas.on_organization_filed(unit, event)
    service.keep_filing(unit=unit, filed=event.payload)


@consumer.on(ORGANIZATION_DETAILS_CHANGED)
def on_organization_details_changed(
    unit: Unit[RecognitionSettings], event: Envelope[OrganizationDetailsChanged]
) -> None:
    """The organization's name and filed sites, whole, as the approved change has them [L11]: the name new batches
    carry, the sites against which a batch's site is new. An older change arriving later changes nothing."""
    service.apply_details(unit=unit, changed=event.payload)


on_organization_status_changed = consumer.on(ORGANIZATION_STATUS_CHANGED)(replicas.on_organization_status_changed)
on_organization_scope_changed = consumer.on(ORGANIZATION_SCOPE_CHANGED)(replicas.on_organization_scope_changed)

PANEL_PURPOSES = {purpose.value for purpose in PanelPurpose}


@consumer.on(EXPERTS_DISPATCHED)
def on_experts_dispatched(unit: Unit[RecognitionSettings], event: Envelope[ExpertsDispatched]) -> None:
    """A batch's performance-review experts [L18(三)] or external quality supervisors [L27]: the latest dispatch
    replaces the panel. The registry's technical-assessment panels are not recognition's."""
    if event.payload.purpose not in PANEL_PURPOSES:
        return
    service.replace_panel(unit=unit, dispatched=event.payload, dispatched_at=event.occurred_at)


@consumer.on(INSPECTION_RECORDED)
def on_inspection_recorded(unit: Unit[RecognitionSettings], event: Envelope[InspectionRecorded]) -> None:
    """A sealed inspection goes into the batch's exam record and trail [L27]; a batch not here raises NotFound."""
    service.record_inspection(unit=unit, inspection=event.payload)


@consumer.on(CREDIT_ENTRY_RECORDED)
def on_credit_entry_recorded(unit: Unit[RecognitionSettings], event: Envelope[CreditEntryRecorded]) -> None:
    """An entry of the credit record, whole as it stands (the latest for its id replaces it): a person's serious
    entry active on the day keeps them from a plan's staff [Z五(五)]."""
    service.keep_credit_entry(unit=unit, entry=event.payload, recorded_at=event.occurred_at)
