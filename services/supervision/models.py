"""Supervision's tables and shapes: the expert pool, the inspection population, plans and draws, inspections
with findings and signatures, and online-monitoring alerts.

XBase / XCreate / X / XPublic as in the FastAPI template. Article references are to DOMAIN.md section 4.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints, field_validator, model_validator
from sqlmodel import JSON, Column, Field, SQLModel, UniqueConstraint

from shared.kernel.clock import utcnow
from shared.kernel.events import (
    DispatchedExpert,
    DrawPurpose,
    ExpertKind,
    ExpertQualification,
    ExpertStatus,
    InspectionFinding,
    InspectionSignature,
    OccupationCode,
    OrganizationRated,
    PopulationFilter,
    ScopeItem,
)
from shared.kernel.identity import RESIDENT_ID_CARD, CreditCode, IdNumber, IdType, id_number_checked_by
from shared.platform.idempotency import IdempotencyKey
from shared.platform.outbox import OutboxEvent, ProcessedEvent
from shared.platform.replicas import FiledOrganization
from shared.platform.sequences import SequenceCounter

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Region = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
RelativeIdNumber = Annotated[str, id_number_checked_by("relative_id_type")]


# --- the expert pool (三支队伍) [Z四(四), Z五(五)] -------------------------------------------------------


class ExpertTie(BaseModel):
    """A declared tie that makes an expert avoid an organization (回避)."""

    kind: Literal["works_for", "trained", "stake", "relative"] = Field(
        description="works for it, trained its staff or candidates, owns a stake, or a relative is on its staff"
    )
    organization_code: str = Field(min_length=13, max_length=18, description="filing code or credit code")
    relative_name: str | None = Field(default=None, max_length=60)
    relative_id_type: IdType = Field(default=RESIDENT_ID_CARD, max_length=20)
    relative_id_number: RelativeIdNumber | None = Field(default=None, max_length=32)


class ExpertBase(SQLModel):
    name: str = Field(min_length=1, max_length=60)
    id_type: str = Field(default=RESIDENT_ID_CARD, max_length=20)
    id_number: str = Field(min_length=1, max_length=32, index=True)
    employer_credit_code: str = Field(max_length=18, description="统一社会信用代码 of the employer (GB 32100)")
    employer_name: str = Field(min_length=1, max_length=200)
    employer_region: str = Field(max_length=6, description="GB/T 2260 code of the employer's county, city or province")
    shared: bool = Field(default=False, description="shared with the Yangtze Delta partners [Z五(八)]")


class ExpertCreate(ExpertBase):
    id_type: IdType = Field(default=RESIDENT_ID_CARD, max_length=20)
    id_number: IdNumber = Field(min_length=1, max_length=32)
    employer_credit_code: CreditCode = Field(max_length=18, description="统一社会信用代码 of the employer (GB 32100)")
    kinds: list[ExpertKind] = Field(min_length=1)
    qualifications: list[ExpertQualification] = Field(default_factory=list)
    ties: list[ExpertTie] = Field(default_factory=list)

    @field_validator("employer_region")
    @classmethod
    def _region_digits(cls, value: str) -> str:
        if len(value) != 6 or not value.isdigit():
            raise ValueError("a GB/T 2260 code: six digits, e.g. 330100")
        return value


class ExpertUpdate(BaseModel):
    """What a province official changes; fields left out stay as they are."""

    employer_credit_code: CreditCode | None = None
    employer_name: str | None = Field(default=None, min_length=1, max_length=200)
    employer_region: Region | None = None
    kinds: list[ExpertKind] | None = Field(default=None, min_length=1)
    qualifications: list[ExpertQualification] | None = None
    ties: list[ExpertTie] | None = None
    status: ExpertStatus | None = None
    shared: bool | None = None
    reason: Text

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # Left out means unchanged; null would blank a field every expert must have.
        if isinstance(data, dict):
            nulls = sorted(name for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)}: leave a field out to keep it; null is not a value")
        return data


class DeclarationsUpdate(BaseModel):
    """What an expert corrects themself: their declared ties [Z五(五) 回避]."""

    ties: list[ExpertTie]


class Expert(ExpertBase, table=True):
    __table_args__ = (UniqueConstraint("id_type", "id_number"),)

    id: str = Field(primary_key=True, max_length=12, description="<province>-E<6 digits>")
    kinds: list[str] = Field(sa_column=Column(JSON, nullable=False))
    qualifications: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    ties: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=12)
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_by: str
    updated_at: datetime = Field(default_factory=utcnow)


class EntryKind(StrEnum):
    TRAINING = "training"  # 定期培训
    DAILY_ASSESSMENT = "daily_assessment"  # 日常考核
    ANNUAL_ASSESSMENT = "annual_assessment"  # 年度考核
    INTEGRITY = "integrity"  # 诚信档案: a record in the integrity archive
    CHANGE = "change"  # a change of the expert's record, with its reason


class ExpertEntryCreate(BaseModel):
    kind: Literal["training", "daily_assessment", "annual_assessment", "integrity"]
    on: date
    content: Text
    result: str | None = Field(default=None, max_length=200, description="e.g. 合格 / 优秀 / 不合格")


class ExpertEntry(SQLModel, table=True):
    """The expert's archive: trainings, assessments, integrity records and changes, never edited."""

    __tablename__ = "expert_entry"

    id: int | None = Field(default=None, primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", index=True)
    kind: EntryKind
    on: date
    content: str
    result: str | None = None
    recorded_by: str
    recorded_at: datetime = Field(default_factory=utcnow)


class ExpertEntryPublic(BaseModel):
    id: int
    kind: EntryKind
    on: date
    content: str
    result: str | None
    recorded_by: str


class ExpertTiePublic(BaseModel):
    kind: str
    organization_code: str
    relative_name: str | None = None
    relative_id_type: str | None = None
    relative_id_number: str | None = Field(default=None, description="masked but for province officials")


class ExpertPublic(BaseModel):
    id: str
    name: str
    id_type: str
    id_number: str = Field(description="masked but for province officials and the expert themself")
    employer_credit_code: str
    employer_name: str
    employer_region: str
    kinds: list[ExpertKind]
    qualifications: list[ExpertQualification]
    ties: list[ExpertTiePublic]
    status: ExpertStatus
    shared: bool
    entries: list[ExpertEntryPublic] = Field(default_factory=list)


class ExpertsPublic(BaseModel):
    data: list[ExpertPublic]
    count: int


class PartnerExpert(SQLModel, table=True):
    """An expert a Yangtze Delta partner shares (expert-shared), drawable where the policy lists the partner."""

    __tablename__ = "partner_expert"

    expert_id: str = Field(primary_key=True, max_length=12)
    province: str = Field(max_length=2)
    name: str
    kinds: list[str] = Field(sa_column=Column(JSON, nullable=False))
    employer_credit_code: str
    employer_region: str
    qualifications: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    tied_organizations: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: str
    shared: bool
    updated_at: datetime = Field(default_factory=utcnow)


# --- the population (一单两库) ------------------------------------------------------------------------


class OrganizationCredit(SQLModel, table=True):
    """The credit code of each filed organization (from organization-filed): employers are matched by it."""

    __tablename__ = "organization_credit"

    filing_code: str = Field(primary_key=True, max_length=13)
    credit_code: str = Field(max_length=18, index=True)


class OrganizationDivision(SQLModel, table=True):
    """Whose a filed organization is, beyond the shared replica: the division that selected it [L5] and that of its
    registered address (a plan of a city or county draws from its own organizations), and the approved change of
    details last applied (organization-details-changed), so that neither an older change nor its filing delivered
    again undoes it."""

    __tablename__ = "organization_division"

    filing_code: str = Field(primary_key=True, max_length=13)
    region: str | None = Field(default=None, max_length=6, description="GB/T 2260 code of the registered address")
    selected_by: str | None = Field(default=None, max_length=6, description="GB/T 2260 code of the selecting division")
    details: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True), description="the last applied details change, whole"
    )
    details_order: str | None = Field(
        default=None, max_length=80, description="its place in effective order: effective_on, then when it was sent"
    )


class PlannedBatch(SQLModel, table=True):
    """An approved batch plan (batch-plan-approved): a target of inspections, with its staff."""

    __tablename__ = "planned_batch"

    batch_id: str = Field(primary_key=True, max_length=40)
    organization_code: str = Field(max_length=13, index=True)
    organization_name: str
    occupation_code: str = Field(max_length=10)
    occupation_name: str
    work_type: str | None = None
    level: int
    method: str
    exam_starts_on: date = Field(index=True)
    exam_ends_on: date
    site_city: str
    site_address: str | None = None
    site_county: str | None = None
    site_capacity: int | None = None
    site_region: str | None = Field(default=None, max_length=6, description="GB/T 2260 code of the site")
    approved_by_region: str | None = Field(default=None, max_length=6, description="the approving department's")
    new_site: bool
    candidates: int
    staff: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approved_on: date


class PublishedResults(SQLModel, table=True):
    """A batch's published results (batch-results-published), kept for the provincial norms of monitoring."""

    __tablename__ = "published_results"

    batch_id: str = Field(primary_key=True, max_length=40)
    organization_code: str = Field(max_length=13)
    occupation_code: str = Field(max_length=10)
    level: int
    sat: int
    passed: int
    published_on: date
    round: int = Field(default=1, description="the publicity round kept: a later round replaces an earlier one")


class StaffMemberPublic(BaseModel):
    name: str
    role: str
    id_number: str = Field(description="masked: region and last four characters")


class PlannedBatchPublic(BaseModel):
    batch_id: str
    organization_code: str
    organization_name: str
    occupation_code: str
    occupation_name: str
    work_type: str | None
    level: int
    method: str
    exam_starts_on: date
    exam_ends_on: date
    site_city: str
    site_address: str | None
    site_county: str | None
    site_capacity: int | None
    site_region: str | None = None
    new_site: bool
    candidates: int
    approved_on: date
    staff: list[StaffMemberPublic]


class PlannedBatchesPublic(BaseModel):
    data: list[PlannedBatchPublic]
    count: int


class InspectableOrganizationPublic(SQLModel):
    filing_code: str
    name: str
    city: str | None
    status: str
    scope: list[ScopeItem]
    valid_until: str


class InspectableOrganizationsPublic(SQLModel):
    data: list[InspectableOrganizationPublic]
    count: int


# --- plans and draws (双随机) [L27] ---------------------------------------------------------------------


class PanelTarget(BaseModel):
    """The application a technical-assessment panel serves [L8] (supervision does not hold applications)."""

    application_id: int = Field(ge=1)
    organization_credit_code: CreditCode
    organization_name: str = Field(min_length=1, max_length=200)
    city: str | None = Field(default=None, max_length=60)
    occupation_code: OccupationCode | None = None
    level: int | None = Field(default=None, ge=1, le=5)


class PlanCreate(BaseModel):
    """An inspection plan, or a panel for another service's step; defaults from the province's policy."""

    title: str = Field(min_length=4, max_length=200)
    purpose: DrawPurpose = "inspection"
    period_from: date
    period_to: date
    population: PopulationFilter = Field(default_factory=PopulationFilter)
    sample_size: int | None = Field(default=None, ge=1, le=10_000)
    sample_percent: int | None = Field(default=None, ge=1, le=100)
    inspectors_per_target: int | None = Field(default=None, ge=1, le=10)
    max_targets_per_inspector: int | None = Field(default=None, ge=1, le=50)
    inspector_kinds: list[ExpertKind] = Field(default_factory=lambda: ["quality_supervisor", "expert"], min_length=1)
    include_partner_experts: bool = Field(default=True, description="the policy's partner provinces' shared experts")
    entropy_source: str = Field(
        min_length=8,
        max_length=300,
        description="the public value to come, named so anyone can look it up: e.g. 双色球 2026140期开奖号码",
    )
    entropy_numbers: int = Field(ge=1, le=50, description="how many numbers the value has: 双色球 7, an index close 2")
    entropy_expected_on: date
    application: PanelTarget | None = Field(default=None, description="technical_assessment: the application")

    @model_validator(mode="after")
    def _one_sample_rule(self) -> PlanCreate:
        if self.sample_size is not None and self.sample_percent is not None:
            raise ValueError("give sample_size or sample_percent, not both")
        return self


class PlanStatus(StrEnum):
    PUBLISHED = "published"  # the population is frozen and published; waiting for the public value
    DRAWN = "drawn"


class InspectionPlan(SQLModel, table=True):
    __tablename__ = "inspection_plan"

    id: str = Field(primary_key=True, max_length=12, description="<province>-P<6 digits>")
    title: str
    purpose: str = Field(max_length=24)
    subject: str | None = Field(default=None, max_length=60, index=True, description="a panel's application or batch")
    status: PlanStatus = PlanStatus.PUBLISHED
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="InspectionPlanPublished")
    plan_hash: str = Field(max_length=64)
    snapshot_hash: str = Field(max_length=64)
    entropy_expected_on: date
    published_on: date
    published_by: str
    public_value: str | None = None
    seed: str | None = Field(default=None, max_length=64)
    drawn_on: date | None = None
    drawn_by: str | None = None
    draw: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON), description="DrawMade")


class PlanRefusal(SQLModel, table=True):
    __tablename__ = "plan_refusal"

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="inspection_plan.id", index=True)
    target_id: str
    expert_id: str
    ground: str = Field(max_length=24)
    reason: str
    refused_on: date
    recorded_by: str
    replaced_by: str | None = None


class DrawCreate(BaseModel):
    public_value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class RefusalCreate(BaseModel):
    """A drawn expert declines (their own token), or an official records a recusal on a coded ground."""

    target_id: str = Field(min_length=1, max_length=40)
    expert_id: str = Field(min_length=1, max_length=12)
    ground: Literal["declined", "unavailable", "conflict_of_interest", "ineligible"]
    reason: Text


class PlanPublic(BaseModel):
    id: str
    title: str
    purpose: str
    status: PlanStatus
    plan_hash: str
    snapshot_hash: str
    entropy_expected_on: date
    published_on: date
    published_by: str
    population: int
    inspectors: int
    public_value: str | None
    seed: str | None
    drawn_on: date | None
    drawn: list[dict[str, Any]] = Field(default_factory=list, description="drawn targets with their inspectors")


class PlansPublic(BaseModel):
    data: list[PlanPublic]
    count: int


class PlanDocuments(BaseModel):
    """The published documents: what `python -m services.supervision.draw verify` reads."""

    plan: dict[str, Any]
    draw: dict[str, Any] | None


# --- inspections and findings [L27] ---------------------------------------------------------------------


class InspectionStatus(StrEnum):
    OPEN = "open"  # being carried out: the record and findings may be written
    SIGNING = "signing"  # the first signature froze the record; the others sign the same hash
    SEALED = "sealed"  # everyone signed: the database refuses any change


class Inspection(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=12, description="<province>-I<6 digits>")
    plan_id: str | None = Field(default=None, foreign_key="inspection_plan.id", index=True)
    alert_id: int | None = None
    target_id: str
    batch_id: str | None = Field(default=None, index=True)
    organization_code: str = Field(max_length=18, index=True)
    organization_name: str
    inspectors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    status: InspectionStatus = InspectionStatus.OPEN
    opened_on: date
    inspected_on: date | None = None
    items_checked: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    notes: str | None = None
    record_hash: str | None = Field(default=None, max_length=64)
    sealed_on: date | None = None


class InspectionRecordUpdate(BaseModel):
    """What the inspectors checked on site and when [L27]: the plan, the internal supervisors, the item list."""

    inspected_on: date
    items_checked: list[str] = Field(min_length=1, description="codes of the policy's item list")
    notes: str | None = Field(default=None, max_length=4000)


class FindingCreate(BaseModel):
    item_code: str = Field(min_length=1, max_length=40)
    severity: Literal["minor", "major", "serious"]
    description: Text = Field(description="for the exam record: not public")
    public_summary: str | None = Field(
        default=None, min_length=1, max_length=200, description="what the public is shown beside the item (no names)"
    )
    evidence: list[Sha256] = Field(default_factory=list, max_length=50, description="SHA-256 of each evidence file")


class Finding(SQLModel, table=True):
    __tablename__ = "inspection_finding"

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: str = Field(foreign_key="inspection.id", index=True)
    item_code: str
    item_title: str
    article: str
    severity: str = Field(max_length=8)
    description: str
    public_summary: str | None = None
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    recorded_by: str
    recorded_at: datetime = Field(default_factory=utcnow)


class Signature(SQLModel, table=True):
    __tablename__ = "inspection_signature"
    __table_args__ = (UniqueConstraint("inspection_id", "signer"),)

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: str = Field(foreign_key="inspection.id", index=True)
    signer: str
    role: str
    signed_at: str = Field(max_length=20, description="UTC to the second, as published: 2026-12-02T08:30:00Z")
    record_hash: str = Field(max_length=64)
    chain_hash: str = Field(max_length=64)


class FindingPublic(InspectionFinding):
    id: int
    article: str
    recorded_by: str


class InspectionPublic(BaseModel):
    id: str
    plan_id: str | None
    alert_id: int | None
    target_id: str
    batch_id: str | None
    organization_code: str
    organization_name: str
    inspectors: list[DispatchedExpert]
    status: InspectionStatus
    opened_on: date
    inspected_on: date | None
    items_checked: list[str]
    notes: str | None
    findings: list[FindingPublic]
    signatures: list[InspectionSignature]
    awaiting: list[str] = Field(
        description="who still has to sign: inspectors' pool ids, and the site's person in charge"
    )
    record_hash: str | None
    sealed_on: date | None


class InspectionsPublic(BaseModel):
    data: list[InspectionPublic]
    count: int


# --- online monitoring (互联网+督导) [L27, Z四(五)] -------------------------------------------------------


class AlertRule(StrEnum):
    PASS_RATE = "pass_rate"  # far above the occupation and level's provincial norm
    IDENTICAL_SCORES = "identical_scores"  # many candidates with one score vector
    SCORES_PILED_AT_PASS = "scores_piled_at_pass"  # scores piled just above the pass mark
    DOUBLE_BOOKING = "double_booking"  # one person at two organizations' sites on one day
    OVER_CAPACITY = "over_capacity"  # more candidates than the site seats


class AlertStatus(StrEnum):
    OPEN = "open"
    INSPECTION = "inspection"  # turned into an inspection
    FINDING = "finding"  # written as a finding of an open inspection
    DISMISSED = "dismissed"


class Alert(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("rule", "batch_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: AlertRule
    batch_id: str = Field(max_length=40, index=True)
    key: str = Field(default="", max_length=120, description="what the rule found, for one alert per finding")
    organization_code: str = Field(max_length=13)
    detail: str
    article: str
    raised_on: date
    status: AlertStatus = AlertStatus.OPEN
    decided_by: str | None = None
    decided_on: date | None = None
    decision_reason: str | None = None
    inspection_id: str | None = None


class SiteRefusalCreate(BaseModel):
    """The site's person in charge will not sign: the inspectors record it, and the record is sealed so."""

    reason: Text


class AlertDecision(BaseModel):
    action: Literal["inspect", "finding", "dismiss"]
    reason: Text
    inspectors: list[str] = Field(default_factory=list, description="inspect: pool ids of the inspectors sent")
    inspection_id: str | None = Field(default=None, description="finding: the open inspection of the batch")
    item_code: str | None = Field(default=None, description="finding: the item of the list it falls under")
    severity: Literal["minor", "major", "serious"] = "major"


class AlertPublic(BaseModel):
    id: int
    rule: AlertRule
    batch_id: str
    organization_code: str
    detail: str
    article: str
    raised_on: date
    status: AlertStatus
    decided_by: str | None
    decided_on: date | None
    decision_reason: str | None
    inspection_id: str | None


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int


# --- cases and measures [L28, G四(一), Z五(五)] ----------------------------------------------------------


class CaseOrigin(StrEnum):
    FINDING = "finding"  # an inspection's finding
    COMPLAINT = "complaint"  # an upheld complaint or report
    ALERT = "alert"  # an online-monitoring alert
    OFFICIAL = "official"  # the official's own decision (e.g. a matter referred by another department)


class CaseStatus(StrEnum):
    OPEN = "open"  # waiting for the official's measure
    RECTIFYING = "rectifying"  # rectification ordered (perhaps with suspension): the report is due by the deadline
    REPORT_FILED = "report_filed"  # the organization filed its report: an inspector verifies it
    OVERDUE = "overdue"  # the deadline passed unverified: the next measure is proposed, the official decides
    FOLLOW_UP = "follow_up"  # revoked or removed: its open batches and its archives are handed over [L28]
    CLOSED = "closed"


Measure = Literal["rectification", "suspension", "revocation", "removal", "no_measure"]


class CaseCreate(BaseModel):
    """Opens a case: from a finding, an alert, or the official's own decision (complaints open theirs when
    upheld)."""

    origin: Literal["finding", "alert", "official"]
    finding_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="origin finding")
    alert_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="origin alert")
    organization_code: str | None = Field(default=None, max_length=13, description="origin official: filing code")
    summary: Text | None = Field(default=None, description="what the case is about (origin official: required)")
    article: str | None = Field(default=None, max_length=200)


class Case(SQLModel, table=True):
    __tablename__ = "supervision_case"
    __table_args__ = (UniqueConstraint("origin", "origin_ref"),)

    id: str = Field(primary_key=True, max_length=12, description="<province>-C<6 digits>")
    organization_code: str = Field(max_length=13, index=True)
    organization_name: str
    origin: str = Field(max_length=10)
    origin_ref: str = Field(max_length=40, description="the finding id, alert id or tracking code; the case id")
    summary: str
    article: str
    status: str = Field(default=CaseStatus.OPEN.value, max_length=12, index=True)
    suspended: bool = False
    rectify_by: date | None = None
    proposed_measure: str | None = Field(default=None, max_length=12)
    opened_on: date
    opened_by: str
    archive_received_by: str | None = None
    archive_handed_over_on: date | None = None
    closed_on: date | None = None


class CaseStep(SQLModel, table=True):
    """The case's trail: every measure and transition, with who, when and why."""

    __tablename__ = "case_step"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="supervision_case.id", index=True)
    action: str = Field(max_length=24)
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str = Field(max_length=12)
    measure: str | None = Field(default=None, max_length=20)
    reason: str
    article: str | None = None
    rectify_by: date | None = None
    decided_on: date
    decided_by: str


class MeasureDecision(BaseModel):
    """The official's measure, with reasons and the article [L28]. Rectification and suspension carry a deadline
    in working days (the policy's default when left out); suspension lasts until the rectification is verified."""

    measure: Measure
    reason: Text
    article: str = Field(min_length=2, max_length=200, description="the article the measure rests on, e.g. L28")
    working_days: int | None = Field(default=None, ge=1, le=500, description="the rectification deadline")


class RectificationReportCreate(BaseModel):
    summary: Text
    evidence: list[Sha256] = Field(min_length=1, max_length=50, description="SHA-256 of each evidence file")


class RectificationReport(SQLModel, table=True):
    __tablename__ = "rectification_report"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="supervision_case.id", index=True)
    summary: str
    evidence: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    filed_on: date
    filed_by: str
    verified_on: date | None = None
    verified_by: str | None = None
    method: str | None = Field(default=None, max_length=8)
    accepted: bool | None = None
    verification_notes: str | None = None


class VerificationCreate(BaseModel):
    method: Literal["on_site", "on_paper"]
    accepted: bool
    notes: Text


class ArchiveHandOver(BaseModel):
    """The revoked organization's records handed to the department [L23 records kept; L28 后续工作]."""

    received_by: str = Field(min_length=2, max_length=200, description="the department or archive that holds them")
    handed_over_on: date
    note: Text


class WithdrawnBatch(SQLModel, table=True):
    """An unapproved batch of a suspended or revoked organization, cancelled or handed over (batch-withdrawn)."""

    __tablename__ = "withdrawn_batch"

    batch_id: str = Field(primary_key=True, max_length=40)
    organization_code: str = Field(max_length=13, index=True)
    action: str = Field(max_length=12)
    candidates: int
    to_organization_code: str | None = None
    new_batch_id: str | None = None
    decided_on: date


class CaseStepPublic(BaseModel):
    action: str
    from_status: str | None
    to_status: str
    measure: str | None
    reason: str
    article: str | None
    rectify_by: date | None
    decided_on: date
    decided_by: str


class RectificationReportPublic(BaseModel):
    id: int
    summary: str
    evidence: list[str]
    filed_on: date
    filed_by: str
    verified_on: date | None
    verified_by: str | None
    method: str | None
    accepted: bool | None
    verification_notes: str | None


class WithdrawnBatchPublic(BaseModel):
    batch_id: str
    action: str
    candidates: int
    to_organization_code: str | None
    new_batch_id: str | None
    decided_on: date


class CasePublic(BaseModel):
    id: str
    organization_code: str
    organization_name: str
    origin: str
    origin_ref: str
    summary: str
    article: str
    status: str
    suspended: bool
    rectify_by: date | None
    proposed_measure: str | None = Field(description="overdue: what the case proposes next; the official decides")
    opened_on: date
    opened_by: str
    archive_received_by: str | None
    archive_handed_over_on: date | None
    closed_on: date | None
    steps: list[CaseStepPublic]
    reports: list[RectificationReportPublic]
    withdrawn_batches: list[WithdrawnBatchPublic]


class CasesPublic(BaseModel):
    data: list[CasePublic]
    count: int


# --- the credit record (信用档案) [L6(一), G二(一)1, G四(一), Z五(五)] -------------------------------------


class CreditEntryCreate(BaseModel):
    """An entry an official records (from a finding or an upheld complaint), or one imported from the provincial
    credit platform. An organization by its credit code; a person by ID type and number."""

    subject_kind: Literal["organization", "person"]
    name: str = Field(min_length=1, max_length=200)
    credit_code: CreditCode | None = Field(default=None, max_length=18)
    id_type: IdType = Field(default=RESIDENT_ID_CARD, max_length=20)
    id_number: IdNumber | None = Field(default=None, max_length=32)
    severity: Literal["general", "serious"]
    source: Literal["finding", "complaint", "import"]
    source_ref: str = Field(min_length=1, max_length=60, description="finding id, tracking code or platform ref")
    reason: Text
    article: str = Field(min_length=2, max_length=200)
    starts_on: date | None = Field(default=None, description="default today; an import gives the platform's")
    ends_on: date | None = Field(default=None, description="default: the policy's years for the severity")

    @model_validator(mode="after")
    def _one_subject(self) -> CreditEntryCreate:
        if self.subject_kind == "organization" and (self.credit_code is None or self.id_number is not None):
            raise ValueError("an organization's entry gives its credit_code and no id_number")
        if self.subject_kind == "person" and (self.id_number is None or self.credit_code is not None):
            raise ValueError("a person's entry gives id_type and id_number and no credit_code")
        return self


class CreditImport(BaseModel):
    entries: list[CreditEntryCreate] = Field(min_length=1, max_length=1000)


class CreditEntry(SQLModel, table=True):
    __tablename__ = "credit_entry"
    __table_args__ = (UniqueConstraint("source", "source_ref", "credit_code", "id_number"),)

    id: str = Field(primary_key=True, max_length=12, description="<province>-K<6 digits>")
    subject_kind: str = Field(max_length=12)
    name: str
    credit_code: str | None = Field(default=None, max_length=18, index=True)
    filing_code: str | None = Field(default=None, max_length=13)
    id_type: str | None = Field(default=None, max_length=20)
    id_number: str | None = Field(default=None, max_length=32, index=True)
    severity: str = Field(max_length=8)
    source: str = Field(max_length=10)
    source_ref: str = Field(max_length=60)
    reason: str
    article: str
    starts_on: date
    ends_on: date
    withdrawn: bool = False
    withdrawn_reason: str | None = None
    recorded_on: date
    recorded_by: str


class WithdrawalCreate(BaseModel):
    reason: Text


class CreditEntryPublic(BaseModel):
    id: str
    subject_kind: str
    name: str
    credit_code: str | None
    filing_code: str | None
    id_type: str | None
    id_number: str | None = Field(description="masked except for a province official")
    severity: str
    source: str
    source_ref: str
    reason: str
    article: str
    starts_on: date
    ends_on: date
    active: bool
    withdrawn: bool
    withdrawn_reason: str | None
    recorded_on: date
    recorded_by: str


class CreditEntriesPublic(BaseModel):
    data: list[CreditEntryPublic]
    count: int


# --- star rating (星级评定) [Z五(五)] -----------------------------------------------------------------------


class RatingRun(BaseModel):
    year: int = Field(ge=2000, le=2100)
    organization_codes: list[str] = Field(default_factory=list, max_length=1000, description="none: every one")


class OrganizationRating(SQLModel, table=True):
    __tablename__ = "organization_rating"

    filing_code: str = Field(primary_key=True, max_length=13)
    year: int = Field(primary_key=True)
    stars: int
    score: int
    draw_weight: int
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    rated_on: date


class ReportedResults(SQLModel, table=True):
    """A batch's reported results summary (batch-results-reported): late reports and upheld objections."""

    __tablename__ = "reported_results"

    batch_id: str = Field(primary_key=True, max_length=40)
    organization_code: str = Field(max_length=13, index=True)
    reported_on: date
    late: bool
    objections_upheld: int


class CorrectedResult(SQLModel, table=True):
    """A result corrected after the province's approval (batch-result-corrected)."""

    __tablename__ = "corrected_result"

    batch_id: str = Field(primary_key=True, max_length=40)
    correction_id: int = Field(primary_key=True)
    organization_code: str = Field(max_length=13, index=True)
    corrected_on: date


class RatingsPublic(BaseModel):
    data: list[OrganizationRated]
    count: int


# --- complaints and reports (投诉举报) [G四(一), L28] ------------------------------------------------------

TrackingCode = Annotated[str, StringConstraints(pattern=r"^\d{2}-[0-9A-HJKMNP-TV-Z]{12}$")]


class ComplaintContact(BaseModel):
    name: str | None = Field(default=None, max_length=60)
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    email: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None


class ComplaintCreate(BaseModel):
    """A complaint or report from anyone, anonymous if they wish; files are sent as their SHA-256 only."""

    about: Literal["organization", "batch", "certificate", "person"]
    reference: str = Field(
        min_length=1, max_length=100, description="filing code, batch id, certificate number, or name and role"
    )
    organization_code: str | None = Field(default=None, max_length=13, description="filing code, when known")
    text: str = Field(min_length=10, max_length=4000)
    anonymous: bool = False
    contact: ComplaintContact | None = None
    attachments: list[Sha256] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _contact_or_anonymous(self) -> ComplaintCreate:
        reachable = self.contact is not None and (self.contact.phone or self.contact.email)
        if self.anonymous and self.contact is not None:
            raise ValueError("an anonymous complaint carries no contact details")
        if not self.anonymous and not reachable:
            raise ValueError("give a phone number or an e-mail address for the reply, or complain anonymously")
        return self


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"  # accepted for handling (受理)
    INVESTIGATING = "investigating"
    CLOSED = "closed"


class Complaint(SQLModel, table=True):
    tracking_code: str = Field(primary_key=True, max_length=15)
    about: str = Field(max_length=12)
    reference: str
    organization_code: str | None = Field(default=None, max_length=13, index=True)
    organization_name: str | None = None
    batch_id: str | None = Field(default=None, max_length=40)
    text: str
    anonymous: bool
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    attachments: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    routed_to: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=ComplaintStatus.RECEIVED.value, max_length=14, index=True)
    received_on: date
    acknowledge_by: date
    handle_by: date
    acknowledged_on: date | None = None
    acknowledged_by: str | None = None
    outcome: str | None = Field(default=None, max_length=10)
    reply: str | None = None
    closed_on: date | None = None
    closed_by: str | None = None
    case_id: str | None = None
    credit_entry_id: str | None = None
    certificate_revocation_requested: str | None = None


class ComplaintNote(SQLModel, table=True):
    """The investigation record, note by note."""

    __tablename__ = "complaint_note"

    id: int | None = Field(default=None, primary_key=True)
    tracking_code: str = Field(foreign_key="complaint.tracking_code", index=True)
    note: str
    written_on: date
    written_by: str


class ComplaintReceipt(BaseModel):
    tracking_code: str
    status: str
    received_on: date
    acknowledge_by: date
    handle_by: date


class ComplaintStatusPublic(ComplaintReceipt):
    """What the complainant sees by the tracking code: no contact details, nothing about other people."""

    about: str
    reference: str
    acknowledged_on: date | None
    late: bool = Field(description="acknowledged or handled after its deadline, or not yet and the deadline passed")
    outcome: str | None
    reply: str | None
    closed_on: date | None


class ComplaintNoteCreate(BaseModel):
    note: Text


class ComplaintOutcome(BaseModel):
    """Unfounded, or upheld: a case for the organization, a credit entry, a request to revoke a certificate."""

    outcome: Literal["upheld", "unfounded"]
    reply: Text = Field(description="the reply the complainant reads by the tracking code")
    open_case: bool = False
    credit_severity: Literal["general", "serious"] | None = Field(
        default=None, description="upheld: record a credit entry on the organization"
    )
    article: str = Field(default="G四(一) 受理投诉举报并核实处理", min_length=2, max_length=200)
    revoke_certificate: str | None = Field(
        default=None, max_length=22, description="upheld: the certificate number certificates is asked to revoke"
    )


class ComplaintNotePublic(BaseModel):
    note: str
    written_on: date
    written_by: str


class ComplaintPublic(ComplaintStatusPublic):
    """The whole complaint for the department handling it; contact details only for a province official."""

    organization_code: str | None
    organization_name: str | None
    batch_id: str | None
    text: str
    anonymous: bool
    contact: ComplaintContact | None
    attachments: list[str]
    routed_to: list[dict[str, Any]]
    acknowledged_by: str | None
    closed_by: str | None
    case_id: str | None
    credit_entry_id: str | None
    certificate_revocation_requested: str | None
    notes: list[ComplaintNotePublic]


class ComplaintsPublic(BaseModel):
    data: list[ComplaintPublic]
    count: int


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (
    FiledOrganization,
    OrganizationCredit,
    OrganizationDivision,
    Expert,
    ExpertEntry,
    PartnerExpert,
    PlannedBatch,
    PublishedResults,
    InspectionPlan,
    PlanRefusal,
    Inspection,
    Finding,
    Signature,
    Alert,
    Case,
    CaseStep,
    RectificationReport,
    WithdrawnBatch,
    CreditEntry,
    OrganizationRating,
    ReportedResults,
    CorrectedResult,
    Complaint,
    ComplaintNote,
    SequenceCounter,
    OutboxEvent,
    ProcessedEvent,
    IdempotencyKey,
)
