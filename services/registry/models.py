"""Evaluation organizations from application to filing and beyond (XBase / XCreate / X / XPublic).

One `Organization` row follows an organization through its whole life; every state change is a
`Transition` row (who, when, why), the audit trail.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, field_validator, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import UniqueConstraint
from sqlmodel import JSON, Column, Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from shared.kernel.clock import utcnow
from shared.kernel.events import ScopeItem
from shared.kernel.identity import RESIDENT_ID_CARD, IdType, id_number_checked_by, valid_credit_code
from shared.kernel.policy import AdminLevel, Affiliation, ChangeKind, EvaluationScope, OrgKind
from shared.kernel.regions import Region
from shared.platform.audit import AuditFields, ObjectionFields
from shared.platform.idempotency import IdempotencyKey
from shared.platform.outbox import OutboxEvent, ProcessedEvent
from shared.platform.sequences import SequenceCounter


class OrganizationStatus(StrEnum):
    SUBMITTED = "submitted"  # application received
    ACCEPTED = "accepted"  # 受理 [L8]
    PRELIMINARY_REVIEWED = "preliminary_reviewed"  # 初审 [L8]
    TECHNICALLY_ASSESSED = "technically_assessed"  # 技术评估: material check, argument, on-site [L8]
    IN_PUBLICITY = "in_publicity"  # 公示 [L9]
    FILED = "filed"  # 备案, with a code; in the public catalogue [L9, L10]
    SUSPENDED = "suspended"  # sanction: no new batches until reinstated [L28]
    REVOKED = "revoked"  # 撤销; removed from the catalogue [L28]
    EXPIRED = "expired"  # 3 years passed without renewal [L9]
    REJECTED = "rejected"  # refused at a review step


IN_CATALOGUE = (OrganizationStatus.FILED, OrganizationStatus.SUSPENDED)


class MaterialKind(StrEnum):
    REGISTRATION = "registration"  # 法人登记证书 / 营业执照
    SITE_PROOF = "site_proof"  # 场地产权证明或租赁合同
    STAFF_ROSTER = "staff_roster"  # 专职工作人员名单及社保证明
    EXAMINER_ROSTER = "examiner_roster"  # 考评员名单
    SUPERVISOR_ROSTER = "supervisor_roster"  # 质量督导员名单
    INTEGRITY_PLEDGE = "integrity_pledge"  # 诚信承诺书
    EVALUATION_HISTORY = "evaluation_history"  # 评价业绩证明


REQUIRED_MATERIALS = (
    MaterialKind.REGISTRATION,
    MaterialKind.SITE_PROOF,
    MaterialKind.STAFF_ROSTER,
    MaterialKind.INTEGRITY_PLEDGE,
)


class Material(BaseModel):
    """A submitted document: stored in the document store, referenced here by its key and digest."""

    kind: MaterialKind
    file_ref: str = PydanticField(min_length=1, max_length=300)
    sha256: str = PydanticField(pattern=r"^[0-9a-f]{64}$")


class Site(BaseModel):
    address: str = PydanticField(min_length=2)
    city: str
    county: str | None = None
    region: Region | None = PydanticField(
        default=None, description="GB/T 2260 code of the site's county (or city): whose department it is under"
    )
    ownership: Literal["owned", "leased"]
    lease_years: int | None = PydanticField(default=None, ge=0, description="length of the lease, if leased")
    area_m2: float = PydanticField(gt=0)


class Major(BaseModel):
    """A school's major and the occupations it leads to; a major that stopped enrolling grants nothing [L16(二)]."""

    name: str
    occupation_codes: list[str]
    enrolling: bool = True


class OccupationApplied(ScopeItem):
    """An occupation in an application: scope plus the applicant's evaluation history in it [L7]."""

    standard: str = PydanticField(min_length=1, description="国家职业技能标准 or filed 评价规范")
    person_times: int = PydanticField(ge=0, description="persons evaluated so far in this occupation")


class Basis(StrEnum):
    """L6(二)'s two alternatives: influence and experience in the field (the experts judge), or a skill-testing
    licence (职业技能鉴定资质) with its person-times in the occupations applied for."""

    INFLUENCE = "influence"
    LICENCE = "licence"


class OrganizationBase(SQLModel):
    name: str = Field(min_length=2, max_length=200)
    short_name: str | None = Field(default=None, max_length=60, description="简称 [S附件3]")
    credit_code: str = Field(max_length=18, description="统一社会信用代码 (GB 32100)")
    kind: OrgKind
    admin_level: AdminLevel | None = Field(default=None, description="for industry organizations")
    evaluation_scope: EvaluationScope = EvaluationScope.PROVINCE
    city: str = Field(min_length=2, max_length=60)
    county: str | None = Field(default=None, max_length=60)
    address: str = Field(min_length=2, max_length=300)
    legal_representative: str = Field(min_length=1, max_length=60)
    registered_capital_10k_yuan: float = Field(ge=0)
    contact_name: str = Field(min_length=1, max_length=60)
    contact_phone: str = Field(max_length=20, schema_extra={"pattern": r"^[0-9+\- ]{7,20}$"})
    email: str | None = Field(default=None, max_length=120, schema_extra={"pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"})
    website: str | None = Field(default=None, max_length=200)
    affiliation: Affiliation = Field(
        default=Affiliation.LOCAL, description="隶属关系: central, province or local; decides who selects it [L5]"
    )
    basis: Basis = Field(default=Basis.INFLUENCE, description="L6(二): influence and experience, or a licence")
    licence_number: str | None = Field(default=None, max_length=60, description="职业技能鉴定资质, with basis licence")
    years_of_evaluation: int = Field(ge=0)
    full_time_staff: int = Field(ge=0)
    examiners: int = Field(ge=0)
    quality_supervisors: int = Field(ge=0)


class ApplicationCreate(OrganizationBase):
    # A misspelt field is an error, not silently dropped data.
    model_config = SQLModelConfig(extra="forbid")

    legal_representative_id_type: IdType = PydanticField(
        default=RESIDENT_ID_CARD, description="the legal representative's ID type"
    )
    legal_representative_id_number: Annotated[str, id_number_checked_by("legal_representative_id_type")] | None = (
        PydanticField(
            default=None,
            description="checked against the credit record's entries of persons [L6(一)]; never shown or echoed",
        )
    )
    region: Region | None = PydanticField(
        default=None,
        description="GB/T 2260 code of the registered address; by default the credit code's division "
        "(positions 3-8) when GB/T 2260 has it",
    )
    national_code: str = PydanticField(
        default="0000",
        description="positions 2-5 of the filing code: always 0000 for a provincial filing [L附件6]; nationally "
        "filed organizations are imported with their ministry's code (POST /organizations)",
    )
    occupations: list[OccupationApplied] = PydanticField(min_length=1)
    sites: list[Site] = PydanticField(min_length=1)
    materials: list[Material] = PydanticField(min_length=1)
    main_business_occupations: list[str] = PydanticField(default_factory=list, description="industry organizations")
    majors: list[Major] = PydanticField(default_factory=list, description="schools")
    self_evaluation_scope: list[str] = PydanticField(default_factory=list, description="employers: filed scope")

    @field_validator("credit_code")
    @classmethod
    def _credit_code_valid(cls, value: str) -> str:
        return valid_credit_code(value)

    @field_validator("national_code")
    @classmethod
    def _national_code_provincial(cls, value: str) -> str:
        if value != "0000":
            raise ValueError(
                "positions 2-5 of a provincial filing code are always 0000 [L附件6]: the applicant does not choose "
                "them; an organization the ministry filed is imported with its code by a province official"
            )
        return value

    @model_validator(mode="after")
    def _licence_named(self) -> ApplicationCreate:
        if self.basis is Basis.LICENCE and not self.licence_number:
            raise ValueError("licence_number is required when the basis is a skill-testing licence [L6(二)]")
        return self

    @field_validator("occupations")
    @classmethod
    def _occupations_unique(cls, value: list[OccupationApplied]) -> list[OccupationApplied]:
        seen = set()
        for item in value:
            key = (item.occupation_code, item.work_type)
            if key in seen:
                raise ValueError(f"occupation {item.occupation_code} appears twice")
            if len(set(item.levels)) != len(item.levels):
                raise ValueError(f"occupation {item.occupation_code} repeats a level")
            seen.add(key)
        return value


class FiledOrganizationCreate(ApplicationCreate):
    """An organization filed before this system ran, or filed by the ministry (positions 2-5 not 0000): taken
    in with its existing filing code, filing date and validity [L9, L附件6]."""

    national_code: str = PydanticField(default="0000", description="ignored: the filing code's positions 2-5 rule")
    filing_code: str = PydanticField(pattern=r"^[SYsy]\d{12}$", description="the code it was filed under")
    filed_on: date
    valid_until: date

    @field_validator("national_code")
    @classmethod
    def _national_code_provincial(cls, value: str) -> str:
        return value

    @field_validator("filing_code")
    @classmethod
    def _filing_code_upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _validity_after_filing(self) -> FiledOrganizationCreate:
        if self.valid_until <= self.filed_on:
            raise ValueError("valid_until must come after filed_on")
        return self


class Organization(OrganizationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_type: str = Field(max_length=1)
    national_code: str = Field(max_length=4)
    province: str = Field(max_length=2)
    region: str = Field(max_length=6, description="GB/T 2260 code of the registered address")
    selected_by: str = Field(max_length=6, index=True, description="the selecting division [L5]")
    licence_warning: str | None = Field(default=None, description="L6(二)'s licence figure not reached")
    licence_override: str | None = Field(default=None, description="the assessment's reasons to override it")
    selection_reported_on: date | None = Field(default=None, description="the city's report (附件3) [L9]")
    selection_report_due_on: date | None = None
    technically_assessed_on: date | None = None
    status: OrganizationStatus = Field(index=True)
    filing_code: str | None = Field(default=None, unique=True, index=True, max_length=13)
    sequence: int | None = None
    scope: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    sites: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    materials: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    main_business_occupations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    majors: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    self_evaluation_scope: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    legal_representative_id_type: str = Field(
        default=RESIDENT_ID_CARD, max_length=20, sa_column_kwargs={"server_default": RESIDENT_ID_CARD}
    )
    legal_representative_id_number: str | None = Field(default=None, max_length=40)  # never shown
    submitted_on: date
    acceptance_due_on: date
    accepted_on: date | None = None
    publicity_from: date | None = None
    publicity_until: date | None = None
    filed_on: date | None = None
    valid_until: date | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Transition(AuditFields, table=True):
    """The audit trail: one row per state change, never updated or deleted."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    from_status: OrganizationStatus | None
    to_status: OrganizationStatus


class ExpertOpinion(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    expert: str  # the expert id of a member of the drawn panel; during the transition, possibly a typed-in name
    expert_name: str | None = None  # the drawn expert's name, from the panel; None for an expert typed in
    drawn: bool  # False: typed in, not drawn (accepted until the policy's `free_text_experts_until` only)
    kind: str  # material_check, argument, on_site
    passed: bool
    note: str | None = None
    recorded_at: datetime = Field(default_factory=utcnow)


class AssessmentPanelMember(SQLModel, table=True):
    """One expert of the panel supervision drew for an application's technical assessment [L8, Z五(五)]. The
    latest `experts dispatched` for the application is the whole panel: it replaces every row before it."""

    __tablename__ = "assessment_panel"
    __table_args__ = (UniqueConstraint("application_id", "expert_id"),)

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="organization.id", index=True)
    plan_id: str  # no lengths of its own: the contract sets none, and a panel too long for a column would stall
    expert_id: str
    name: str
    province: str = Field(max_length=2)
    dispatched_at: datetime  # when supervision sent this panel (the event's occurred_at)
    drawn_for: str | None = Field(default=None, description="the credit code the panel's draw avoided")


class CreditRecordEntry(SQLModel, table=True):
    """The registry's replica of supervision's credit record (信用档案) [L6(一), G二(一)1, G四(一)]: the latest
    `credit entry recorded` for an entry id is the whole entry. A withdrawn entry never counted."""

    __tablename__ = "credit_record_entry"

    entry_id: str = Field(primary_key=True)
    subject_kind: str = Field(max_length=12)  # organization, person
    name: str
    credit_code: str | None = Field(default=None, index=True)  # normalised (GB 32100) when it is valid
    filing_code: str | None = Field(default=None, index=True)
    id_type: str | None = None
    id_number: str | None = Field(default=None, index=True)  # normalised (GB 11643); never shown
    severity: str = Field(max_length=10)  # general, serious
    source: str = Field(max_length=10)
    source_ref: str | None = None
    reason: str
    article: str
    starts_on: date
    ends_on: date
    withdrawn: bool = False
    recorded_at: datetime  # when supervision sent this version of the entry (the event's occurred_at)

    def active_on(self, day: date) -> bool:
        return not self.withdrawn and self.starts_on <= day < self.ends_on


class CatalogueRating(SQLModel, table=True):
    """The latest star rating supervision gave a filed organization (星级评定) [Z五(五)]: a rating for an earlier
    year than the one kept is ignored."""

    __tablename__ = "catalogue_rating"

    filing_code: str = Field(primary_key=True)
    year: int
    stars: int
    score: int
    rated_on: date
    recorded_at: datetime


class Objection(ObjectionFields, table=True):
    """An objection raised during a publicity: of the application (`change_id` None) or of a change [L9, L11]."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    change_id: int | None = Field(default=None, foreign_key="scopechange.id", index=True)


class ScopeChange(SQLModel, table=True):
    """A requested change of a filed organization [L11, S附件3]: its scope (occupations, work types, levels), its
    exam sites or its details (name, contact ...), through the steps the policy's `changes` give its kind."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    kind: ChangeKind = Field(default=ChangeKind.SCOPE)
    status: str = "submitted"  # submitted, then approved or rejected
    proposed: dict[str, object] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="the new sites or details"
    )
    accepted_on: date | None = None
    assessed_on: date | None = None
    assessment: str | None = None
    published_on: date | None = None
    publicity_until: date | None = None
    add: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    modify: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    delete: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    submitted_by: str
    decided_by: str | None = None
    reason: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --- request and response models --------------------------------------------------------------


class StepDecision(BaseModel):
    passed: bool
    reason: str | None = PydanticField(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_when_refused(self) -> StepDecision:
        if not self.passed and not self.reason:
            raise ValueError("reason is required when the step is not passed")
        return self


class Reason(BaseModel):
    reason: str = PydanticField(min_length=2, max_length=500)


class OpinionCreate(BaseModel):
    expert: str = PydanticField(
        min_length=1,
        description="the expert id of a member of the panel supervision drew for the application; during the "
        "policy's transition (`free_text_experts_until`) an expert typed in is accepted, marked not drawn",
    )
    kind: Literal["material_check", "argument", "on_site"]
    passed: bool
    note: str | None = None


class AssessmentCreate(BaseModel):
    opinions: list[OpinionCreate] = PydanticField(min_length=1)
    override_reasons: str | None = PydanticField(
        default=None,
        min_length=2,
        max_length=1000,
        description="why the experts accept an application whose licence figure falls short of the policy's "
        "(一般不少于: normally, not always) [L6(二)]; required when the application carries that warning",
    )


class PublicityCreate(BaseModel):
    published_on: date = PydanticField(description="date of the notice on the province and city portals")


class ScopeRowKey(BaseModel):
    """One row of the scope: an occupation and one of its work types (None: the occupation itself) [S附件3 注6]."""

    occupation_code: str = PydanticField(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")
    work_type: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, value: object) -> object:
        return {"occupation_code": value} if isinstance(value, str) else value

    def label(self) -> str:
        return self.occupation_code + (f" {self.work_type}" if self.work_type else "")


class ScopeChangeCreate(BaseModel):
    add: list[OccupationApplied] = PydanticField(default_factory=list)
    modify: list[OccupationApplied] = PydanticField(default_factory=list)
    delete: list[ScopeRowKey] = PydanticField(
        default_factory=list,
        description="rows to delete: {occupation_code, work_type}, or an occupation code for its row without work type",
    )

    @model_validator(mode="after")
    def _something_changes(self) -> ScopeChangeCreate:
        if not (self.add or self.modify or self.delete):
            raise ValueError("a scope change must add, modify or delete at least one occupation")
        return self


class TransitionPublic(BaseModel):
    from_status: OrganizationStatus | None
    to_status: OrganizationStatus
    action: str
    reason: str | None
    actor: str
    actor_role: str
    at: datetime


class CatalogueOccupation(BaseModel):
    occupation_code: str
    occupation_name: str
    work_type: str | None
    levels: list[str] = PydanticField(description="level titles, highest first")


class RatingPublic(BaseModel):
    """The organization's latest star rating (星级评定) [Z五(五)]."""

    year: int
    stars: int = PydanticField(ge=1, le=5)
    score: int = PydanticField(ge=0, le=100)


class OrganizationPublic(BaseModel):
    """A catalogue entry [L10, Z四(五)]."""

    filing_code: str | None
    name: str
    short_name: str | None
    org_type: str
    kind: OrgKind
    province: str
    city: str
    region: str = PydanticField(description="GB/T 2260 code of the registered address")
    address: str
    contact_name: str
    contact_phone: str
    email: str | None
    website: str | None
    status: OrganizationStatus
    occupations: list[CatalogueOccupation]
    filed_on: date | None
    valid_until: date | None
    rating: RatingPublic | None = PydanticField(description="the latest star rating; null until rated [Z五(五)]")


class OrganizationsPublic(BaseModel):
    data: list[OrganizationPublic]
    count: int


class ApplicationPublic(OrganizationPublic):
    """What officials and the applicant see: the catalogue entry plus the workflow."""

    id: int
    credit_code: str
    affiliation: Affiliation
    selected_by: str = PydanticField(description="GB/T 2260 code of the selecting division: province or city [L5]")
    basis: Basis
    licence_number: str | None
    licence_warning: str | None = PydanticField(
        description="L6(二): the licence's person-times fall short of the policy's figure; the technical assessment "
        "must override it with reasons"
    )
    licence_override: str | None = PydanticField(description="the technical assessment's reasons for overriding")
    technically_assessed_on: date | None
    selection_report_due_on: date | None = PydanticField(
        description="a city-selected application: the city reports its selection (附件3) by then [L9]"
    )
    selection_reported_on: date | None
    reported_late: bool = PydanticField(description="the city's report came after its due date (accepted) [L9]")
    submitted_on: date
    acceptance_due_on: date
    accepted_on: date | None
    acceptance_overdue: bool
    publicity_from: date | None
    publicity_until: date | None
    trail: list[TransitionPublic]
    objections: list[ObjectionPublic]
    panel: list[PanelMemberPublic] = PydanticField(description="the experts supervision drew for the assessment")
    opinions: list[OpinionPublic] = PydanticField(description="the technical assessment's expert opinions [L8]")


class OpinionPublic(BaseModel):
    expert: str = PydanticField(description="the drawn expert's id, or the name typed in during the transition")
    expert_name: str | None = PydanticField(description="the drawn expert's name; null for an expert typed in")
    drawn: bool = PydanticField(description="false: typed in rather than drawn, accepted during the transition")
    kind: str
    passed: bool
    note: str | None
    recorded_at: datetime


class PanelMemberPublic(BaseModel):
    plan_id: str
    expert_id: str
    name: str
    province: str


class ObjectionPublic(BaseModel):
    id: int
    raised_on: date
    raised_by: str
    content: str
    upheld: bool | None
    resolution: str | None


class DetailsProposed(BaseModel):
    """The institution's information as it is to be [S附件3]; what is left out stays as filed."""

    name: str | None = PydanticField(default=None, min_length=2, max_length=200)
    short_name: str | None = PydanticField(default=None, max_length=60)
    contact_name: str | None = PydanticField(default=None, min_length=1, max_length=60)
    contact_phone: str | None = PydanticField(default=None, pattern=r"^[0-9+\- ]{7,20}$")
    email: str | None = PydanticField(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    website: str | None = PydanticField(default=None, max_length=200)
    address: str | None = PydanticField(default=None, min_length=2, max_length=300)


class ChangeCreate(BaseModel):
    """A change of exam sites (the whole new list) or of the institution's information [L11; S附件3]."""

    kind: Literal[ChangeKind.SITES, ChangeKind.DETAILS]
    sites: list[Site] | None = PydanticField(default=None, min_length=1, description="for sites: the new list")
    details: DetailsProposed | None = None

    @model_validator(mode="after")
    def _what_changes(self) -> ChangeCreate:
        if self.kind is ChangeKind.SITES and not self.sites:
            raise ValueError("a change of sites gives the whole new list of sites")
        if self.kind is ChangeKind.DETAILS and (self.details is None or not self.details.model_dump(exclude_none=True)):
            raise ValueError("a change of details names at least one new value")
        return self


class ChangeAssessment(BaseModel):
    passed: bool
    reason: str = PydanticField(min_length=2, max_length=2000, description="the experts' opinion")


class ScopeChangePublic(BaseModel):
    id: int
    kind: ChangeKind = ChangeKind.SCOPE
    status: str
    proposed: dict[str, object] = PydanticField(default_factory=dict)
    accepted_on: date | None = None
    assessed_on: date | None = None
    published_on: date | None = None
    publicity_until: date | None = None
    add: list[OccupationApplied]
    modify: list[OccupationApplied]
    delete: list[ScopeRowKey]
    reason: str | None
    objections: list[ObjectionPublic] = PydanticField(
        default_factory=list, description="objections raised during the change's publicity"
    )


class ApplicationsPublic(BaseModel):
    data: list[ApplicationPublic]
    count: int


# --- the occupation catalogue [L12] ---------------------------------------------------------------------


class OccupationCreate(BaseModel):
    """An occupation (or work type) the ministry published or filed after the 大典 (2022) [L12 后续经人力资源社会
    保障部发布或备案的技能类职业(工种)]."""

    code: str = PydanticField(pattern=r"^\d-\d{2}-\d{2}-\d{2}$", description="6-18-01-01 form")
    name: str = PydanticField(min_length=2, max_length=60)
    levels: list[Annotated[int, PydanticField(ge=1, le=5)]] = PydanticField(default=[5, 4, 3, 2, 1], min_length=1)
    work_types: list[Annotated[str, PydanticField(min_length=2, max_length=60)]] = PydanticField(default_factory=list)
    source: str = PydanticField(min_length=4, max_length=200, description="the ministry's notice that published it")


class AddedOccupation(SQLModel, table=True):
    """An occupation a province official added to the catalogue, with who and when."""

    __tablename__ = "registry_occupation"

    code: str = Field(primary_key=True, max_length=10)
    name: str
    levels: list[int] = Field(sa_column=Column(JSON, nullable=False))
    work_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str
    added_by: str
    added_on: date
    added_at: datetime = Field(default_factory=utcnow)


class OccupationPublic(BaseModel):
    code: str
    name: str
    kind: Literal["skill", "access", "listed"] = PydanticField(
        description="skill (技能类), access (准入类: never recognised) or listed (in the 大典 without a mark)"
    )
    category: str = PydanticField(description="the 大类 digit")
    recognisable: bool = PydanticField(description="whether this province recognises it (policy skill_categories)")
    levels: list[int]
    work_types: list[str]
    source: str
    definition: str | None = PydanticField(description="the 大典's definition; null for an occupation added later")
    green: bool = PydanticField(description="marked L in the 大典: 绿色职业")
    digital: bool = PydanticField(description="marked S in the 大典: 数字职业")


class OccupationsPublic(BaseModel):
    data: list[OccupationPublic]
    count: int


ApplicationPublic.model_rebuild()

# What this service's database holds (its alembic migrations create exactly these).
TABLES = (
    Organization,
    Transition,
    ExpertOpinion,
    AssessmentPanelMember,
    CreditRecordEntry,
    CatalogueRating,
    Objection,
    ScopeChange,
    AddedOccupation,
    OutboxEvent,
    ProcessedEvent,
    SequenceCounter,
    IdempotencyKey,
)
