"""Recognition batches, their staff and candidates, results, objections and corrections.

XBase / XCreate / X / XPublic as in the FastAPI template. Article references are to DOMAIN.md section 2.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, StringConstraints, model_validator
from sqlalchemy import false
from sqlmodel import JSON, Column, Field, SQLModel, UniqueConstraint

from shared.kernel.clock import utcnow
from shared.kernel.identity import RESIDENT_ID_CARD, IdNumber, IdType
from shared.kernel.regions import Region
from shared.kernel.workflow import ObjectionCreate
from shared.platform.audit import AuditFields, ObjectionFields
from shared.platform.idempotency import IdempotencyKey
from shared.platform.outbox import OutboxEvent, ProcessedEvent
from shared.platform.replicas import FiledOrganization


class Method(StrEnum):
    ASSESSMENT = "assessment"  # 认定考核: theory, skill operation, thesis defence [L18(一)]
    COMBINED = "combined"  # 考评结合: tests plus performance review [L18(二)]
    PERFORMANCE_REVIEW = "performance_review"  # 业绩评审 on site [L18(三)]
    COMPETITION = "competition"  # 竞赛选拔: winners of a filed competition recognised directly [L18(四)]
    STUDENT = "student"  # technical-school students who completed the teaching plan, directly [S一]


DIRECT_METHODS = (Method.COMPETITION, Method.STUDENT)


class BatchStatus(StrEnum):
    DRAFT = "draft"  # being prepared: candidates may be added
    SUBMITTED = "submitted"  # plan submitted to the testing department [L20]
    RETURNED = "returned"  # returned with the reason; may be corrected and submitted again
    PLAN_APPROVED = "plan_approved"  # may run [L20]
    RESULTS_RECORDED = "results_recorded"  # every candidate has a result
    RESULTS_IN_PUBLICITY = "results_in_publicity"  # 5+ working days [L22, G三(五)]
    REPORTED = "reported"  # results summary (结果汇总表) reported to the testing department [L22]
    REVIEWED = "reviewed"  # the testing department's review passed [L22]
    APPROVED = "approved"  # the province's re-check passed: certificates may be issued [L22-23]
    CANCELLED = "cancelled"  # withdrawn by the department: its organization was suspended or revoked [L28]
    HANDED_OVER = "handed_over"  # its candidates went to another organization's new draft [L28]


# Batches no step takes further: approved (corrections aside) or withdrawn [L28].
WITHDRAWN = (BatchStatus.CANCELLED, BatchStatus.HANDED_OVER)
# Batches not approved and not withdrawn: what a suspended or revoked organization leaves to follow up [L28].
UNFINISHED = tuple(s for s in BatchStatus if s is not BatchStatus.APPROVED and s not in WITHDRAWN)
# The organization standings under which such a batch takes no further step [L28].
HALTED_STANDINGS = ("suspended", "revoked")


# Batches whose staff are committed to their site on their dates.
ACTIVE = (BatchStatus.SUBMITTED, BatchStatus.PLAN_APPROVED, BatchStatus.RESULTS_RECORDED)


class StaffRole(StrEnum):
    EXAMINER = "examiner"  # 考评员
    INVIGILATOR = "invigilator"  # 监考员
    QUALITY_SUPERVISOR = "quality_supervisor"  # 内部质量督导员


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    id_type: IdType = Field(default=RESIDENT_ID_CARD, max_length=20)
    id_number: IdNumber = Field(min_length=1, max_length=32)


class StaffCreate(Person):
    """An examiner, invigilator or internal quality supervisor of the batch, with what they must declare."""

    role: StaffRole
    trained: list[str] = Field(default_factory=list, description="ID numbers of candidates they trained")
    related: list[str] = Field(default_factory=list, description="ID numbers of candidates related to them")


class ExamSite(BaseModel):
    address: str = Field(min_length=2, max_length=200)
    city: str = Field(min_length=2, max_length=60)
    county: str | None = Field(default=None, max_length=60)
    capacity: int | None = Field(
        default=None, ge=1, le=100_000, description="the seats the site declares: candidates it can seat at once"
    )
    region: Region | None = Field(
        default=None,
        description="GB/T 2260 code of the site's county (or city), in the province: a new exam site is notified "
        "to that division's department [Z四(一), G四(二)]; required for a new site, else the filed site's",
    )


class CandidateCreate(Person):
    photo_ref: str | None = Field(default=None, max_length=200, description="key of the photo in the document store")
    years_of_work: int = Field(default=0, ge=0, le=60, description="years working in the occupation")
    prior_certificate_number: str | None = Field(
        default=None, max_length=22, description="the next lower level's certificate, any province"
    )
    competition_award: str | None = Field(default=None, max_length=200, description="竞赛选拔: the award won")
    completed_teaching_plan: bool = Field(default=False, description="技工院校学生: completed the plan of this level")
    birth_date: date | None = Field(
        default=None, description="for ID types without a birth date in the number; a resident card's is read from it"
    )


class Candidate(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("batch_id", "id_type", "id_number"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    position: int = Field(description="order in the plan; certificate serials follow it")
    name: str
    id_type: str
    id_number: str = Field(index=True)
    photo_ref: str | None = None
    years_of_work: int = 0
    prior_certificate_number: str | None = None
    competition_award: str | None = None
    completed_teaching_plan: bool = False
    birth_date: date | None = None
    theory: float | None = None
    skill: float | None = None
    defence: float | None = None
    performance: float | None = None
    absent: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    passed: bool | None = None


class CandidatePublic(BaseModel):
    id: str
    position: int
    name: str
    id_type: str
    id_number: str
    years_of_work: int
    prior_certificate_number: str | None
    theory: float | None
    skill: float | None
    defence: float | None
    performance: float | None
    absent: bool
    passed: bool | None


class BatchStaff(SQLModel, table=True):
    __tablename__ = "batch_staff"
    __table_args__ = (UniqueConstraint("batch_id", "id_type", "id_number"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    name: str
    id_type: str
    id_number: str = Field(index=True)
    role: StaffRole
    trained: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    related: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class BatchBase(SQLModel):
    organization_code: str = Field(max_length=13)
    occupation_code: str = Field(max_length=10, schema_extra={"pattern": r"^\d-\d{2}-\d{2}-\d{2}$"})
    work_type: str | None = Field(
        default=None,
        max_length=100,
        description="工种/方向 as filed for the occupation and level; may be left out when one row is filed [L26]",
    )
    level: int = Field(ge=1, le=5)
    method: Method = Method.ASSESSMENT
    exam_starts_on: date
    exam_ends_on: date
    announced_on: date | None = Field(default=None, description="when the batch was announced on the portal")


class BatchCreate(BatchBase):
    occupation_name: str | None = Field(
        default=None,
        max_length=100,
        description="not stored: the batch takes the occupation's name from the filed scope [L26, L附件8]",
    )
    site: ExamSite
    staff: list[StaffCreate] = Field(min_length=1)
    candidates: list[CandidateCreate] = Field(default_factory=list, description="or upload them as CSV / JSON lines")

    @model_validator(mode="after")
    def _consistent(self) -> BatchCreate:
        if self.exam_ends_on < self.exam_starts_on:
            raise ValueError("exam_ends_on is before exam_starts_on")
        return self


class Batch(BatchBase, table=True):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True)
    organization_name: str
    occupation_name: str = Field(description="the filed scope's name of the occupation [L26, L附件8]")
    site: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    site_region: str | None = Field(default=None, index=True, description="GB/T 2260 code of the site's division")
    new_site: bool = Field(default=False, description="not a filed site: dual supervision [G四(二)]")
    status: BatchStatus = BatchStatus.DRAFT
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    plan_approved_on: date | None = None
    plan_approved_by_region: str | None = Field(default=None, description="the approving department's division")
    results_recorded_on: date | None = Field(default=None, description="when every result (or the correction) was in")
    results_round: int = Field(
        default=0, sa_column_kwargs={"server_default": "0"}, description="publicity rounds so far [G三(五)]"
    )
    results_published_on: date | None = None
    results_publicity_until: date | None = None
    report_due_on: date | None = None
    reported_on: date | None = None
    reported_late: bool = False
    approved_on: date | None = None
    approved_by: str | None = None
    withdrawn_on: date | None = Field(default=None, description="cancelled or handed over on [L28]")
    handed_over_to: str | None = Field(default=None, description="the new batch its candidates went to [L28]")
    handed_over_from: str | None = Field(default=None, description="the batch it was handed over from [L28]")


class BatchTransition(AuditFields, table=True):
    """The audit trail: every state change of a batch, with who, when and why."""

    __tablename__ = "batch_transition"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    from_status: BatchStatus | None
    to_status: BatchStatus


class ResultObjection(ObjectionFields, table=True):
    __tablename__ = "result_objection"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    candidate_id: str | None = None
    round: int = Field(default=1, sa_column_kwargs={"server_default": "1"}, description="the publicity round")


class OrganizationAuthority(SQLModel, table=True):
    """What recognition keeps of a filed organization beyond the shared replica (`filed_organization`): whose
    testing department approves its batch plans (the division that selected it [L5, L20]; the province when the
    filing does not say), its registered division, and the last details change applied."""

    __tablename__ = "recognition_organization_authority"

    filing_code: str = Field(primary_key=True, max_length=13)
    selected_by: str = Field(max_length=6)
    region: str | None = Field(default=None, max_length=6)
    details_change_id: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ResultCorrection(SQLModel, table=True):
    __tablename__ = "result_correction"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    candidate_id: str = Field(foreign_key="candidate.id")
    passed_before: bool
    passed_now: bool
    reason: str
    corrected_by: str
    corrected_on: date


class BatchInspection(SQLModel, table=True):
    """A sealed inspection record of supervision, written into the batch's exam record (考场记录) [L27]."""

    __tablename__ = "batch_inspection"

    inspection_id: str = Field(primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    inspected_on: date
    record: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="the InspectionRecorded payload")
    received_at: datetime = Field(default_factory=utcnow)


class PanelPurpose(StrEnum):
    """The expert panels supervision draws for a batch (the registry's technical assessment is not ours)."""

    PERFORMANCE_REVIEW = "performance_review"  # 业绩评审 experts [L18(三)]
    QUALITY_SUPERVISION = "quality_supervision"  # external quality supervisors [L27]


class BatchPanel(SQLModel, table=True):
    """The latest panel supervision dispatched for a batch and purpose: a new dispatch replaces it."""

    __tablename__ = "batch_panel"

    batch_id: str = Field(foreign_key="batch.id", primary_key=True)
    purpose: str = Field(primary_key=True, max_length=30)
    plan_id: str
    experts: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dispatched_at: datetime = Field(description="when supervision sent the dispatch (the envelope's occurred_at)")
    received_at: datetime = Field(default_factory=utcnow)


class BatchReviewer(SQLModel, table=True):
    """An expert who gave the batch's performance-review scores [L18(三)]: drawn from the dispatched panel, or,
    during the policy's transition, typed in (`drawn` false)."""

    __tablename__ = "batch_reviewer"
    __table_args__ = (UniqueConstraint("batch_id", "expert_id"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    expert_id: str = Field(description="the pool id of a drawn expert, or the text typed in")
    name: str | None = Field(default=None, description="the expert's name on the drawn panel")
    drawn: bool
    recorded_on: date
    recorded_by: str


class PersonCreditEntry(SQLModel, table=True):
    """Recognition's replica of supervision's credit record (信用档案), its entries of persons only: the latest
    `credit entry recorded` for an entry id is the whole entry. Staff with a serious entry active on the day are
    refused at creation and submission [Z五(五) 诚信不良档案]; a withdrawn entry never counted. The ID number is
    kept normalised, to match the staff's, and is never shown or echoed."""

    __tablename__ = "person_credit_entry"

    entry_id: str = Field(primary_key=True)
    name: str
    id_type: str
    id_number: str = Field(index=True)
    severity: str = Field(max_length=10)  # general, serious
    source: str = Field(max_length=10)
    source_ref: str | None = None
    reason: str
    article: str
    starts_on: date
    ends_on: date = Field(description="the first day it no longer counts")
    withdrawn: bool = False
    recorded_at: datetime = Field(description="when supervision sent this version (the event's occurred_at)")

    def active_on(self, day: date) -> bool:
        return not self.withdrawn and self.starts_on <= day < self.ends_on


class StaffPublic(BaseModel):
    name: str
    id_type: str
    id_number: str
    role: StaffRole


class TransitionPublic(BaseModel):
    from_status: BatchStatus | None
    to_status: BatchStatus
    action: str
    reason: str | None
    actor: str
    actor_role: str
    at: datetime


class ExpertPublic(BaseModel):
    expert_id: str
    name: str
    province: str


class ReviewerPublic(BaseModel):
    expert_id: str
    name: str | None
    drawn: bool = Field(description="false: typed in during the transition, not drawn by supervision")
    recorded_on: date


class FindingPublic(BaseModel):
    item_code: str
    item_title: str
    severity: str
    description: str


class SignaturePublic(BaseModel):
    signer: str
    role: str
    signed_at: datetime
    chain_hash: str


class InspectionPublic(BaseModel):
    inspection_id: str
    inspected_on: date
    inspectors: list[str] = Field(description="the inspectors' names")
    items_checked: list[str]
    findings: list[FindingPublic]
    record_hash: str
    signatures: list[SignaturePublic]


class BatchPublic(BatchBase):
    id: str
    organization_name: str
    occupation_name: str
    site: ExamSite
    site_region: str | None = None
    new_site: bool
    status: BatchStatus
    plan_approved_on: date | None
    plan_approved_by_region: str | None = None
    results_round: int = 0
    results_published_on: date | None
    results_publicity_until: date | None
    report_due_on: date | None
    reported_on: date | None
    reported_late: bool
    approved_on: date | None
    withdrawn_on: date | None = None
    handed_over_to: str | None = Field(default=None, description="the new batch its candidates went to [L28]")
    handed_over_from: str | None = Field(default=None, description="the batch it was handed over from [L28]")
    candidate_count: int
    staff: list[StaffPublic]
    trail: list[TransitionPublic]
    inspections: list[InspectionPublic] = Field(default_factory=list, description="supervision's sealed records [L27]")
    external_supervisors: list[ExpertPublic] = Field(
        default_factory=list, description="the external quality supervisors supervision dispatched [L27]"
    )
    review_panel: list[ExpertPublic] = Field(
        default_factory=list, description="the performance-review experts supervision drew [L18(三)]"
    )
    reviewers: list[ReviewerPublic] = Field(
        default_factory=list, description="the experts who gave the performance-review scores"
    )


class CandidatesPublic(BaseModel):
    data: list[CandidatePublic]
    count: int


class ApprovalDecision(BaseModel):
    approve: bool
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_when_refused(self) -> ApprovalDecision:
        if not self.approve and not self.reason:
            raise ValueError("a return or refusal needs its reason")
        return self


class ScoreCreate(BaseModel):
    """One candidate's scores out of 100 per component, or a direct recognition."""

    candidate_id: str
    theory: float | None = Field(default=None, ge=0, le=100)
    skill: float | None = Field(default=None, ge=0, le=100)
    defence: float | None = Field(default=None, ge=0, le=100)
    performance: float | None = Field(default=None, ge=0, le=100)
    absent: bool = False


ExpertReference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class ResultsCreate(BaseModel):
    results: list[ScoreCreate] = Field(min_length=1)
    reviewers: list[ExpertReference] = Field(
        default_factory=list,
        max_length=50,
        description="expert ids of the drawn performance-review panel who reviewed; required with any "
        "performance score [L18(三)]",
    )


class PublicityCreate(BaseModel):
    published_on: date = Field(description="the day the results were published on the portal")


class ResultObjectionCreate(ObjectionCreate):
    candidate_id: str | None = Field(default=None, description="the candidate whose result is objected to, if one")


class CorrectionCreate(BaseModel):
    candidate_id: str
    passed: bool
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class ResultObjectionPublic(BaseModel):
    id: int
    batch_id: str
    candidate_id: str | None
    round: int
    raised_on: date
    raised_by: str
    content: str
    upheld: bool | None
    resolution: str | None
    resolved_on: date | None


class ResultCorrectionPublic(BaseModel):
    id: int
    batch_id: str
    candidate_id: str
    passed_before: bool
    passed_now: bool
    reason: str
    corrected_by: str
    corrected_on: date


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]


class CancelCreate(BaseModel):
    reason: Reason = Field(description="why the department cancels the batch [L28]")


class HandOverCreate(BaseModel):
    """What the receiving organization's new draft needs that the batch cannot give: its own staff (a draft takes
    them only at creation), and, when they change, the site and dates. Candidates come from the batch."""

    to_organization_code: str = Field(min_length=13, max_length=13, description="the receiving organization")
    reason: Reason = Field(description="why the batch is handed over [L28]")
    staff: list[StaffCreate] = Field(
        min_length=1,
        description="the receiving organization's examiners, invigilators and internal quality supervisors [L20]",
    )
    site: ExamSite | None = Field(
        default=None, description="where the receiving organization runs it; else the batch's"
    )
    exam_starts_on: date | None = Field(default=None, description="else the batch's")
    exam_ends_on: date | None = Field(default=None, description="else the batch's")
    announced_on: date | None = Field(default=None, description="the receiving organization's announcement, if made")


class HandOverPublic(BaseModel):
    handed_over: BatchPublic = Field(description="the batch, now handed_over")
    new_batch: BatchPublic = Field(description="the receiving organization's draft with the same candidates")


class FollowUpBatch(BaseModel):
    """A batch of the organization that is not approved and not withdrawn [L28]."""

    id: str
    status: BatchStatus
    occupation_code: str
    occupation_name: str
    work_type: str | None
    level: int
    method: Method
    announced_on: date | None
    exam_starts_on: date
    exam_ends_on: date
    plan_approved_on: date | None
    results_published_on: date | None
    results_publicity_until: date | None
    report_due_on: date | None
    reported_on: date | None
    site: ExamSite
    candidate_count: int
    candidates: str = Field(description="the batch's candidates: GET this path")


class FollowUpPublic(BaseModel):
    """What an organization leaves to follow up (妥善处理后续工作) [L28]."""

    organization_code: str
    organization_name: str
    organization_status: str
    data: list[FollowUpBatch]
    count: int
    candidate_count: int = Field(description="candidates of all these batches")
    candidates_csv: str = Field(description="all their candidates as CSV: GET this path")


class NewSiteBatch(BaseModel):
    """An approved batch at a new exam site, as notified to the site's division [Z四(一), G四(二)]."""

    id: str
    organization_code: str
    organization_name: str
    occupation_code: str
    occupation_name: str
    work_type: str | None
    level: int
    status: BatchStatus
    exam_starts_on: date
    exam_ends_on: date
    site: ExamSite
    site_region: str | None
    plan_approved_on: date | None
    plan_approved_by_region: str | None


class NewSiteBatchesPublic(BaseModel):
    region: str = Field(description="the division they are notified to (the caller's), and those in it")
    data: list[NewSiteBatch]
    count: int


class UploadReport(BaseModel):
    rows: int
    stored: int
    candidate_count: int


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (
    FiledOrganization,
    Batch,
    BatchStaff,
    Candidate,
    BatchTransition,
    ResultObjection,
    ResultCorrection,
    BatchInspection,
    BatchPanel,
    BatchReviewer,
    PersonCreditEntry,
    OrganizationAuthority,
    OutboxEvent,
    ProcessedEvent,
    IdempotencyKey,
)
