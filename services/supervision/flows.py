"""Supervision's event consumers: the replica of filed organizations (with their credit codes), the approved
batch plans and published results of recognition (the population and online monitoring), and the experts the
Yangtze Delta partners share; and what the star rating counts (late reports, upheld objections, corrections after
approval) and the batches a suspended or revoked organization's department withdrew."""

from __future__ import annotations

from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    EXPERT_SHARED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    BatchPlanApproved,
    BatchResultCorrected,
    BatchResultsPublished,
    BatchResultsReported,
    BatchWithdrawn,
    Envelope,
    ExpertShared,
    OrganizationDetailsChanged,
    OrganizationFiled,
)
from shared.platform import replicas
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from . import service
from .settings import SupervisionSettings

consumer: Consumer[Unit[SupervisionSettings]] = Consumer("supervision")


@consumer.on(ORGANIZATION_FILED)
def on_organization_filed(unit: Unit[SupervisionSettings], event: Envelope[OrganizationFiled]) -> None:
    """The replica, and the credit code that matches an expert's employer to the organization."""
    replicas.on_organization_filed(unit, event)
    service.keep_credit_code(unit=unit, filing_code=event.payload.filing_code, credit_code=event.payload.credit_code)
    service.keep_division(unit=unit, filed=event.payload)


on_organization_status_changed = consumer.on(ORGANIZATION_STATUS_CHANGED)(replicas.on_organization_status_changed)
on_organization_scope_changed = consumer.on(ORGANIZATION_SCOPE_CHANGED)(replicas.on_organization_scope_changed)


@consumer.on(ORGANIZATION_DETAILS_CHANGED)
def on_organization_details_changed(
    unit: Unit[SupervisionSettings], event: Envelope[OrganizationDetailsChanged]
) -> None:
    """The replica's name and sites, and the registered division, as the latest approved change gives them."""
    service.apply_details_change(
        unit=unit, changed=event.payload, effective_on=event.effective_on, occurred_at=event.occurred_at
    )


@consumer.on(BATCH_PLAN_APPROVED)
def on_batch_plan_approved(unit: Unit[SupervisionSettings], event: Envelope[BatchPlanApproved]) -> None:
    """The batch enters the inspection population; its site and staff are checked at once."""
    service.keep_batch(unit=unit, plan=event.payload, approved_on=event.effective_on)


@consumer.on(BATCH_RESULTS_PUBLISHED)
def on_batch_results_published(unit: Unit[SupervisionSettings], event: Envelope[BatchResultsPublished]) -> None:
    """Online monitoring of the results against the provincial norms [L27, Z四(五)]."""
    service.keep_results(unit=unit, results=event.payload)


@consumer.on(EXPERT_SHARED, all_provinces=True)
def on_expert_shared(unit: Unit[SupervisionSettings], event: Envelope[ExpertShared]) -> None:
    """A partner province's shared expert [Z五(八) 三支队伍交流]; other provinces' are not kept."""
    service.keep_partner_expert(unit=unit, shared=event.payload, province=event.province)


@consumer.on(BATCH_RESULTS_REPORTED)
def on_batch_results_reported(unit: Unit[SupervisionSettings], event: Envelope[BatchResultsReported]) -> None:
    """A late report and upheld objections count in the organization's star rating [Z五(五)]."""
    service.keep_reported(unit=unit, reported=event.payload)


@consumer.on(BATCH_RESULT_CORRECTED)
def on_batch_result_corrected(unit: Unit[SupervisionSettings], event: Envelope[BatchResultCorrected]) -> None:
    """A result corrected after approval counts in the organization's star rating [Z五(五)]."""
    service.keep_correction(unit=unit, corrected=event.payload)


@consumer.on(BATCH_WITHDRAWN)
def on_batch_withdrawn(unit: Unit[SupervisionSettings], event: Envelope[BatchWithdrawn]) -> None:
    """A cancelled or handed-over batch shows on the organization's case, for its follow-up [L28]."""
    service.keep_withdrawn(unit=unit, withdrawn=event.payload)
