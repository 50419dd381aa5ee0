"""Supervision HTTP API: the expert pool, the inspection population, plans and draws, inspections, alerts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import StreamingResponse

from shared.platform.auth import Actor, Principal, Role
from shared.platform.deps import RowId, Skip, UnitDep

from . import service
from .deps import (
    SUPERVISORS,
    CaseReader,
    Deciding,
    Handling,
    Inspecting,
    Official,
    Operator,
    PoolMember,
    Reading,
    Refusing,
    Signing,
    Supervisor,
    Verifying,
)
from .models import (
    AlertDecision,
    AlertPublic,
    AlertsPublic,
    AlertStatus,
    ArchiveHandOver,
    CaseCreate,
    CasePublic,
    CasesPublic,
    CaseStatus,
    ComplaintCreate,
    ComplaintNoteCreate,
    ComplaintOutcome,
    ComplaintPublic,
    ComplaintReceipt,
    ComplaintsPublic,
    ComplaintStatus,
    ComplaintStatusPublic,
    CreditEntriesPublic,
    CreditEntryCreate,
    CreditEntryPublic,
    CreditImport,
    DeclarationsUpdate,
    DrawCreate,
    ExpertCreate,
    ExpertEntryCreate,
    ExpertEntryPublic,
    ExpertPublic,
    ExpertsPublic,
    ExpertUpdate,
    FindingCreate,
    FindingPublic,
    InspectableOrganizationsPublic,
    InspectionPublic,
    InspectionRecordUpdate,
    InspectionsPublic,
    InspectionStatus,
    MeasureDecision,
    PlanCreate,
    PlanDocuments,
    PlannedBatchesPublic,
    PlannedBatchPublic,
    PlanPublic,
    PlansPublic,
    RatingRun,
    RatingsPublic,
    RectificationReportCreate,
    RefusalCreate,
    SiteRefusalCreate,
    TrackingCode,
    VerificationCreate,
    WithdrawalCreate,
)

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=500)]
Text = Annotated[str | None, Query(max_length=100)]


# --- the expert pool ------------------------------------------------------------------------------------


@router.post("/experts", status_code=201, response_model=ExpertPublic, tags=["expert pool"])
def register_expert(expert_in: ExpertCreate, unit: UnitDep, principal: Official) -> ExpertPublic:
    """Registers an examiner, quality supervisor, judge or expert in the province's pool [Z四(四)]."""
    expert = service.register_expert(unit=unit, expert_in=expert_in, actor=Actor.of(principal))
    return service.expert_public(unit=unit, expert=expert, with_entries=True, masked=False)


@router.get("/experts", response_model=ExpertsPublic, tags=["expert pool"])
def list_experts(
    unit: UnitDep,
    principal: Supervisor,
    kind: Text = None,
    status_: Annotated[str | None, Query(alias="status", pattern="^(active|suspended|retired)$")] = None,
    occupation: Text = None,
    q: Text = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> ExpertsPublic:
    data, count = service.experts(
        unit=unit, kind=kind, status=status_, occupation=occupation, q=q, skip=skip, limit=limit
    )
    masked = principal.role is not Role.PROVINCE_OFFICIAL
    return ExpertsPublic(data=[service.expert_public(unit=unit, expert=e, masked=masked) for e in data], count=count)


@router.get("/experts/me", response_model=ExpertPublic, tags=["expert pool"])
def my_record(unit: UnitDep, principal: PoolMember) -> ExpertPublic:
    """An expert's own record: qualifications, declarations, assessments and integrity archive."""
    expert = service.get_expert(unit=unit, expert_id=principal.subject)
    return service.expert_public(unit=unit, expert=expert, with_entries=True, masked=False)


@router.put("/experts/me/declarations", response_model=ExpertPublic, tags=["expert pool"])
def correct_my_declarations(declarations: DeclarationsUpdate, unit: UnitDep, principal: PoolMember) -> ExpertPublic:
    """An expert corrects their declared ties (works for, trained, stake, relatives) [Z五(五) 回避]."""
    expert = service.correct_declarations(
        unit=unit, expert_id=principal.subject, declarations=declarations, actor=Actor.of(principal)
    )
    return service.expert_public(unit=unit, expert=expert, with_entries=True, masked=False)


@router.get("/experts/{expert_id}", response_model=ExpertPublic, tags=["expert pool"])
def read_expert(expert_id: str, unit: UnitDep, principal: Supervisor) -> ExpertPublic:
    """An expert's record; ID numbers masked but for province officials."""
    expert = service.get_expert(unit=unit, expert_id=expert_id)
    masked = principal.role is not Role.PROVINCE_OFFICIAL
    return service.expert_public(unit=unit, expert=expert, with_entries=True, masked=masked)


@router.patch("/experts/{expert_id}", response_model=ExpertPublic, tags=["expert pool"])
def update_expert(expert_id: str, update: ExpertUpdate, unit: UnitDep, principal: Official) -> ExpertPublic:
    """Changes qualifications, ties, status (active, suspended, retired) or sharing, with the reason."""
    expert = service.update_expert(unit=unit, expert_id=expert_id, update=update, actor=Actor.of(principal))
    return service.expert_public(unit=unit, expert=expert, with_entries=True, masked=False)


@router.post("/experts/{expert_id}/entries", status_code=201, response_model=ExpertEntryPublic, tags=["expert pool"])
def add_entry(expert_id: str, entry_in: ExpertEntryCreate, unit: UnitDep, principal: Official) -> ExpertEntryPublic:
    """A training, a daily or annual assessment, or an integrity record [Z五(五) 日常考核、年度考核]."""
    entry = service.add_entry(unit=unit, expert_id=expert_id, entry_in=entry_in, actor=Actor.of(principal))
    return ExpertEntryPublic.model_validate(entry, from_attributes=True)


# --- the population -------------------------------------------------------------------------------------


@router.get("/batches", response_model=PlannedBatchesPublic, tags=["population"], dependencies=[SUPERVISORS])
def planned_batches(
    unit: UnitDep,
    when: Annotated[str | None, Query(pattern="^(upcoming|running|past)$")] = None,
    city: Text = None,
    occupation: Annotated[str | None, Query(max_length=100, description="code or part of the name")] = None,
    organization: Annotated[str | None, Query(max_length=13, description="filing code")] = None,
    new_site: bool | None = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> PlannedBatchesPublic:
    """Approved batches of the province: upcoming, running or past, by city, occupation, organization, new site."""
    data, count = service.planned_batches(
        unit=unit,
        when=when,  # type: ignore[arg-type]
        city=city,
        occupation=occupation,
        organization=organization,
        new_site=new_site,
        skip=skip,
        limit=limit,
    )
    return PlannedBatchesPublic(data=data, count=count)


@router.get("/batches/{batch_id}", response_model=PlannedBatchPublic, tags=["population"], dependencies=[SUPERVISORS])
def read_batch(batch_id: str, unit: UnitDep) -> PlannedBatchPublic:
    """A batch's approved plan with its staff (ID numbers masked)."""
    return service.batch_public(service.get_batch(unit=unit, batch_id=batch_id))


@router.get(
    "/inspectable-organizations",
    response_model=InspectableOrganizationsPublic,
    tags=["population"],
    dependencies=[SUPERVISORS],
)
def inspectable_organizations(
    unit: UnitDep, city: Text = None, occupation: Text = None, q: Text = None, skip: Skip = 0, limit: Limit = 100
) -> InspectableOrganizationsPublic:
    """Filed organizations of this province: the population random inspections are drawn from."""
    data, count = service.inspectable_organizations(
        unit=unit, city=city, occupation=occupation, q=q, skip=skip, limit=limit
    )
    return InspectableOrganizationsPublic(data=data, count=count)


@router.get(
    "/organizations/{filing_code}/inspections",
    response_model=InspectionsPublic,
    tags=["population"],
    dependencies=[SUPERVISORS],
)
def organization_history(filing_code: str, unit: UnitDep, skip: Skip = 0, limit: Limit = 100) -> InspectionsPublic:
    """An organization's inspection history."""
    data, count = service.inspections(
        unit=unit, organization=filing_code, batch=None, plan=None, status=None, inspector=None, skip=skip, limit=limit
    )
    return InspectionsPublic(data=data, count=count)


# --- plans and draws ------------------------------------------------------------------------------------


@router.post("/plans", status_code=201, response_model=PlanPublic, tags=["plans and draws"])
def publish_plan(plan_in: PlanCreate, unit: UnitDep, principal: Official) -> PlanPublic:
    """Publishes a plan: the population and the pool are frozen and hashed, the public value named [L27]."""
    return service.plan_public(service.publish_plan(unit=unit, plan_in=plan_in, actor=Actor.of(principal)))


@router.get("/plans", response_model=PlansPublic, tags=["plans and draws"], dependencies=[SUPERVISORS])
def list_plans(unit: UnitDep, skip: Skip = 0, limit: Limit = 100) -> PlansPublic:
    data, count = service.plans(unit=unit, skip=skip, limit=limit)
    return PlansPublic(data=data, count=count)


@router.get("/plans/{plan_id}", response_model=PlanPublic, tags=["plans and draws"], dependencies=[SUPERVISORS])
def read_plan(plan_id: str, unit: UnitDep) -> PlanPublic:
    return service.plan_public(service.get_plan(unit=unit, plan_id=plan_id))


@router.get(
    "/plans/{plan_id}/documents", response_model=PlanDocuments, tags=["plans and draws"], dependencies=[SUPERVISORS]
)
def plan_documents(plan_id: str, unit: UnitDep) -> PlanDocuments:
    """The published documents that `python -m services.supervision.draw verify` checks."""
    return service.plan_documents(service.get_plan(unit=unit, plan_id=plan_id))


@router.post("/plans/{plan_id}/draw", response_model=PlanPublic, tags=["plans and draws"])
def make_draw(plan_id: str, draw_in: DrawCreate, unit: UnitDep, principal: Official) -> PlanPublic:
    """Enters the public value once it is out, and draws targets and inspectors."""
    plan = service.make_draw(unit=unit, plan_id=plan_id, public_value=draw_in.public_value, actor=Actor.of(principal))
    return service.plan_public(plan)


@router.post("/plans/{plan_id}/refusals", status_code=201, response_model=PlanPublic, tags=["plans and draws"])
def refuse(plan_id: str, refusal_in: RefusalCreate, unit: UnitDep, principal: Refusing) -> PlanPublic:
    """A drawn inspector declines or is recused; the draw names the replacement the same way."""
    service.refuse(unit=unit, plan_id=plan_id, refusal_in=refusal_in, principal=principal)
    return service.plan_public(service.get_plan(unit=unit, plan_id=plan_id))


# --- inspections ----------------------------------------------------------------------------------------


def _ensure_may_read(principal: Principal, inspection: InspectionPublic) -> None:
    if principal.role is Role.ORG_OPERATOR and principal.organization != inspection.organization_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}")
    if principal.role is Role.EXPERT and principal.subject not in {i.expert_id for i in inspection.inspectors}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.subject} is not an inspector of {inspection.id}")


@router.get("/inspections", response_model=InspectionsPublic, tags=["inspections"], dependencies=[SUPERVISORS])
def list_inspections(
    unit: UnitDep,
    organization: Text = None,
    batch: Text = None,
    plan: Text = None,
    status_: Annotated[InspectionStatus | None, Query(alias="status")] = None,
    inspector: Annotated[str | None, Query(max_length=12, description="pool id")] = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> InspectionsPublic:
    data, count = service.inspections(
        unit=unit,
        organization=organization,
        batch=batch,
        plan=plan,
        status=status_,
        inspector=inspector,
        skip=skip,
        limit=limit,
    )
    return InspectionsPublic(data=data, count=count)


@router.get("/inspections/{inspection_id}", response_model=InspectionPublic, tags=["inspections"])
def read_inspection(inspection_id: str, unit: UnitDep, principal: Reading) -> InspectionPublic:
    inspection = service.inspection_public(
        unit=unit, inspection=service.get_inspection(unit=unit, inspection_id=inspection_id)
    )
    _ensure_may_read(principal, inspection)
    return inspection


@router.put("/inspections/{inspection_id}/record", response_model=InspectionPublic, tags=["inspections"])
def record_checks(
    inspection_id: str, record: InspectionRecordUpdate, unit: UnitDep, principal: Inspecting
) -> InspectionPublic:
    """What the inspectors checked on site and when (the item list's codes) [L27]."""
    inspection = service.record_checks(unit=unit, inspection_id=inspection_id, record=record, principal=principal)
    return service.inspection_public(unit=unit, inspection=inspection)


@router.post(
    "/inspections/{inspection_id}/findings", status_code=201, response_model=FindingPublic, tags=["inspections"]
)
def add_finding(inspection_id: str, finding_in: FindingCreate, unit: UnitDep, principal: Inspecting) -> FindingPublic:
    """A finding: the item, its severity, a description and the evidence files' hashes."""
    finding = service.add_finding(unit=unit, inspection_id=inspection_id, finding_in=finding_in, principal=principal)
    return FindingPublic.model_validate(finding, from_attributes=True)


@router.post("/inspections/{inspection_id}/signatures", response_model=InspectionPublic, tags=["inspections"])
def sign(inspection_id: str, unit: UnitDep, principal: Signing) -> InspectionPublic:
    """An inspector on the record, or the site's person in charge, signs; the last signature seals it."""
    inspection = service.sign(unit=unit, inspection_id=inspection_id, principal=principal)
    return service.inspection_public(unit=unit, inspection=inspection)


@router.post("/inspections/{inspection_id}/site-refusal", response_model=InspectionPublic, tags=["inspections"])
def record_site_refusal(
    inspection_id: str, refusal: SiteRefusalCreate, unit: UnitDep, principal: Inspecting
) -> InspectionPublic:
    """The site's person in charge will not sign: after every inspector has, one records it with the reason,
    in the site's place, and the record is sealed (拒绝签字, on the record)."""
    inspection = service.record_site_refusal(
        unit=unit, inspection_id=inspection_id, reason=refusal.reason, principal=principal
    )
    return service.inspection_public(unit=unit, inspection=inspection)


# --- online monitoring ----------------------------------------------------------------------------------


@router.get("/alerts", response_model=AlertsPublic, tags=["online monitoring"], dependencies=[SUPERVISORS])
def list_alerts(
    unit: UnitDep,
    status_: Annotated[AlertStatus | None, Query(alias="status")] = None,
    batch: Text = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> AlertsPublic:
    data, count = service.alerts(unit=unit, status=status_, batch=batch, skip=skip, limit=limit)
    return AlertsPublic(data=data, count=count)


@router.post("/alerts/{alert_id}/decision", response_model=AlertPublic, tags=["online monitoring"])
def decide_alert(alert_id: RowId, decision: AlertDecision, unit: UnitDep, principal: Deciding) -> AlertPublic:
    """Turns an alert into an inspection or a finding of an open one, or dismisses it, with the reason."""
    alert = service.decide_alert(unit=unit, alert_id=alert_id, decision=decision, principal=principal)
    return AlertPublic.model_validate(alert, from_attributes=True)


# --- cases and measures [L28, G四(一), Z五(五)] ----------------------------------------------------------

CaseId = Annotated[str, Path(max_length=12)]


@router.post("/cases", status_code=201, response_model=CasePublic, tags=["cases"])
def open_case(case_in: CaseCreate, unit: UnitDep, principal: Official) -> CasePublic:
    """Opens a case from a finding, an alert or the official's own decision (an upheld complaint opens its own)."""
    case = service.open_case(unit=unit, case_in=case_in, actor=Actor.of(principal))
    return service.case_public(unit=unit, case=case)


@router.get("/cases", response_model=CasesPublic, tags=["cases"], dependencies=[SUPERVISORS])
def list_cases(
    unit: UnitDep,
    status_: Annotated[CaseStatus | None, Query(alias="status")] = None,
    organization: Text = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> CasesPublic:
    data, count = service.cases(
        unit=unit, status=status_.value if status_ else None, organization_code=organization, skip=skip, limit=limit
    )
    return CasesPublic(data=[service.case_public(unit=unit, case=c) for c in data], count=count)


@router.get("/cases/{case_id}", response_model=CasePublic, tags=["cases"])
def read_case(case_id: CaseId, unit: UnitDep, principal: CaseReader) -> CasePublic:
    """A case with its measures, reports and follow-up; an organization's operators read their own."""
    case = service.get_case(unit=unit, case_id=case_id)
    if principal.role is Role.ORG_OPERATOR and principal.organization != case.organization_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}")
    return service.case_public(unit=unit, case=case)


@router.post("/cases/{case_id}/measures", response_model=CasePublic, tags=["cases"])
def decide_measure(case_id: CaseId, decision: MeasureDecision, unit: UnitDep, principal: Official) -> CasePublic:
    """Rectification within working days, suspension, revocation, removal from the catalogue, or none [L28]."""
    case = service.decide_measure(unit=unit, case_id=case_id, decision=decision, actor=Actor.of(principal))
    return service.case_public(unit=unit, case=case)


@router.post("/cases/{case_id}/rectification-reports", status_code=201, response_model=CasePublic, tags=["cases"])
def file_rectification_report(
    case_id: CaseId, report_in: RectificationReportCreate, unit: UnitDep, principal: Operator
) -> CasePublic:
    """The organization's rectification report with its evidence (SHA-256 of each file), by the deadline."""
    service.file_rectification_report(unit=unit, case_id=case_id, report_in=report_in, principal=principal)
    return service.case_public(unit=unit, case=service.get_case(unit=unit, case_id=case_id))


@router.post("/cases/{case_id}/verification", response_model=CasePublic, tags=["cases"])
def verify_rectification(
    case_id: CaseId, verification: VerificationCreate, unit: UnitDep, principal: Verifying
) -> CasePublic:
    """An inspector verifies the report on site or on paper: accepted closes the case and lifts a suspension."""
    case = service.verify_rectification(unit=unit, case_id=case_id, verification=verification, principal=principal)
    return service.case_public(unit=unit, case=case)


@router.post("/cases/{case_id}/archive-handover", response_model=CasePublic, tags=["cases"])
def hand_over_archive(case_id: CaseId, hand_over: ArchiveHandOver, unit: UnitDep, principal: Official) -> CasePublic:
    """After revocation or removal: the archives are with the department, and the case closes [L28 后续工作]."""
    case = service.hand_over_archive(unit=unit, case_id=case_id, hand_over=hand_over, actor=Actor.of(principal))
    return service.case_public(unit=unit, case=case)


@router.post("/deadline-runs", tags=["cases"])
def mark_overdue(unit: UnitDep, principal: Official) -> dict[str, list[str]]:
    """Marks passed rectification deadlines overdue now (the service also does it by itself, hourly)."""
    return {"overdue": service.mark_overdue(unit=unit)}


# --- the credit record [L6(一), G四(一), Z五(五)] ------------------------------------------------------------


@router.post("/credit-entries", status_code=201, response_model=CreditEntryPublic, tags=["credit"])
def record_credit(entry_in: CreditEntryCreate, unit: UnitDep, principal: Official) -> CreditEntryPublic:
    """An entry from a finding or an upheld complaint (sanctions record theirs), sent to registry and recognition."""
    entry = service.record_credit(unit=unit, entry_in=entry_in, actor=Actor.of(principal))
    return service.credit_public(unit=unit, entry=entry, masked=False)


@router.post("/credit-entries/imports", status_code=201, response_model=CreditEntriesPublic, tags=["credit"])
def import_credit(batch: CreditImport, unit: UnitDep, principal: Official) -> CreditEntriesPublic:
    """Entries from the provincial credit platform (信用浙江 and its peers): all of them or none."""
    entries = service.import_credit(unit=unit, batch=batch, actor=Actor.of(principal))
    return CreditEntriesPublic(
        data=[service.credit_public(unit=unit, entry=e, masked=False) for e in entries], count=len(entries)
    )


@router.post("/credit-entries/{entry_id}/withdrawal", response_model=CreditEntryPublic, tags=["credit"])
def withdraw_credit(
    entry_id: Annotated[str, Path(max_length=12)], withdrawal: WithdrawalCreate, unit: UnitDep, principal: Official
) -> CreditEntryPublic:
    entry = service.withdraw_credit(unit=unit, entry_id=entry_id, withdrawal=withdrawal, actor=Actor.of(principal))
    return service.credit_public(unit=unit, entry=entry, masked=False)


@router.get("/credit-entries", response_model=CreditEntriesPublic, tags=["credit"])
def list_credit(
    unit: UnitDep,
    principal: Supervisor,
    severity: Annotated[str | None, Query(pattern="^(general|serious)$")] = None,
    active: bool | None = None,
    q: Text = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> CreditEntriesPublic:
    """ID numbers are shown in full to a province official only."""
    data, count = service.credit_entries(unit=unit, severity=severity, active=active, q=q, skip=skip, limit=limit)
    masked = principal.role is not Role.PROVINCE_OFFICIAL
    return CreditEntriesPublic(
        data=[service.credit_public(unit=unit, entry=e, masked=masked) for e in data], count=count
    )


@router.get(
    "/credit-entries/export.csv",
    tags=["credit"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def export_credit(unit: UnitDep, principal: Official) -> StreamingResponse:
    """The serious entries active today for the provincial credit platform (columns in docs/supervision.md)."""
    rows = list(service.credit_export(unit=unit))  # read inside the request's transaction

    def lines() -> Iterator[str]:
        yield "\ufeff"  # a byte-order mark, so spreadsheet programs read the UTF-8 names
        for row in rows:
            buffer = io.StringIO()
            csv.writer(buffer).writerow(row)
            yield buffer.getvalue()

    filename = f"credit-{unit.province}-{unit.today.isoformat()}.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- star rating [Z五(五)] ----------------------------------------------------------------------------------


@router.post("/ratings", response_model=RatingsPublic, tags=["star rating"])
def rate_organizations(run: RatingRun, unit: UnitDep, principal: Official) -> RatingsPublic:
    """Rates the organizations for a year on demand (the service rates the past year by itself in January)."""
    rated = service.rate_organizations(unit=unit, run=run)
    return RatingsPublic(data=rated, count=len(rated))


@router.get("/ratings", response_model=RatingsPublic, tags=["star rating"], dependencies=[SUPERVISORS])
def list_ratings(
    unit: UnitDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None, skip: Skip = 0, limit: Limit = 100
) -> RatingsPublic:
    data, count = service.ratings(unit=unit, year=year, skip=skip, limit=limit)
    return RatingsPublic(data=data, count=count)


# --- complaints and reports [G四(一), L28] ------------------------------------------------------------------


@router.post("/complaints", status_code=201, response_model=ComplaintReceipt, tags=["complaints"])
def receive_complaint(complaint_in: ComplaintCreate, unit: UnitDep) -> ComplaintReceipt:
    """Anyone may complain or report, anonymously if they wish (no token; the public reaches it through the
    query service, behind its fair-use limits). Keep the tracking code: it shows the status and the reply."""
    complaint = service.receive_complaint(unit=unit, complaint_in=complaint_in)
    return ComplaintReceipt.model_validate(complaint, from_attributes=True)


@router.get("/complaints/{tracking_code}", response_model=ComplaintStatusPublic, tags=["complaints"])
def complaint_status(tracking_code: Annotated[TrackingCode, Path()], unit: UnitDep) -> ComplaintStatusPublic:
    """The status and the reply, by the tracking code (no token); never the contact details."""
    complaint = service.get_complaint(unit=unit, tracking_code=tracking_code)
    return service.complaint_status(unit=unit, complaint=complaint)


@router.get("/complaints", response_model=ComplaintsPublic, tags=["complaints"])
def list_complaints(
    unit: UnitDep,
    principal: Handling,
    status_: Annotated[ComplaintStatus | None, Query(alias="status")] = None,
    late: bool | None = None,
    organization: Text = None,
    skip: Skip = 0,
    limit: Limit = 100,
) -> ComplaintsPublic:
    """Complaints being handled; contact details are shown to a province official only."""
    data, count = service.complaints(
        unit=unit,
        status=status_.value if status_ else None,
        late=late,
        organization_code=organization,
        skip=skip,
        limit=limit,
    )
    with_contact = principal.role is Role.PROVINCE_OFFICIAL
    return ComplaintsPublic(
        data=[service.complaint_public(unit=unit, complaint=c, with_contact=with_contact) for c in data], count=count
    )


def _handled(unit: UnitDep, principal: Principal, tracking_code: str) -> ComplaintPublic:
    complaint = service.get_complaint(unit=unit, tracking_code=tracking_code)
    return service.complaint_public(
        unit=unit, complaint=complaint, with_contact=principal.role is Role.PROVINCE_OFFICIAL
    )


@router.get("/complaints/{tracking_code}/record", response_model=ComplaintPublic, tags=["complaints"])
def read_complaint(
    tracking_code: Annotated[TrackingCode, Path()], unit: UnitDep, principal: Handling
) -> ComplaintPublic:
    return _handled(unit, principal, tracking_code)


@router.post("/complaints/{tracking_code}/acknowledgement", response_model=ComplaintPublic, tags=["complaints"])
def acknowledge_complaint(
    tracking_code: Annotated[TrackingCode, Path()], unit: UnitDep, principal: Official
) -> ComplaintPublic:
    """Accepted for handling (受理), by the policy's working days."""
    service.acknowledge_complaint(unit=unit, tracking_code=tracking_code, actor=Actor.of(principal))
    return _handled(unit, principal, tracking_code)


@router.post("/complaints/{tracking_code}/notes", response_model=ComplaintPublic, tags=["complaints"])
def add_complaint_note(
    tracking_code: Annotated[TrackingCode, Path()], note_in: ComplaintNoteCreate, unit: UnitDep, principal: Handling
) -> ComplaintPublic:
    """The investigation record, note by note."""
    service.add_complaint_note(unit=unit, tracking_code=tracking_code, note_in=note_in, actor=Actor.of(principal))
    return _handled(unit, principal, tracking_code)


@router.post("/complaints/{tracking_code}/outcome", response_model=ComplaintPublic, tags=["complaints"])
def close_complaint(
    tracking_code: Annotated[TrackingCode, Path()], outcome: ComplaintOutcome, unit: UnitDep, principal: Official
) -> ComplaintPublic:
    """Unfounded, or upheld: a case, a credit entry on the organization, a certificate revocation request."""
    service.close_complaint(unit=unit, tracking_code=tracking_code, outcome=outcome, actor=Actor.of(principal))
    return _handled(unit, principal, tracking_code)
