"""Event contracts: one envelope for every event, the payloads, and the topic scheme.

Topics are owned by the province that produces them: `skillcert.<province>.<service>.<event>`. A topic
mirrored by MirrorMaker 2 carries its source cluster alias in front (`zj.skillcert.33...`); the
patterns below accept both, so a shared consumer reads every province either way.
"""

from __future__ import annotations

import builtins
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from shared.kernel.clock import CHINA
from shared.kernel.numbering import CertificateNumber

P = TypeVar("P", bound=BaseModel)

TOPIC_ROOT = "skillcert"
ProvinceCode = Annotated[str, StringConstraints(pattern=r"^\d{2}$")]
LevelDigit = Annotated[int, Field(ge=1, le=5)]


def _canonical_certificate_number(value: str) -> str:
    if str(CertificateNumber.parse(value)) != value:
        raise ValueError(f"{value!r} is not written as the national rule writes it (22 characters, capital letter)")
    return value


# The public lookup serves a number found as typed without parsing it: numbers travel only in this form.
CanonicalCertificateNumber = Annotated[str, AfterValidator(_canonical_certificate_number)]
# A rung of a province's ladder: 1-5 are the national levels; 0 特级技师, -1 首席技师, 6 学徒工 (Zhejiang's
# eight-level ladder for employers). Certificates carry only 1-5, the digit of the national number.
LevelRank = Annotated[int, Field(ge=-1, le=6)]


class Envelope(BaseModel, Generic[P]):
    """Every event on the bus. Trace context travels in Kafka headers, not here."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(description="<service>.<event>, past tense, e.g. registry.organization-filed")
    version: int = 1
    province: ProvinceCode
    service: str
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str = Field(description="what the event is about: a filing code, batch id or certificate number")
    payload: P

    @property
    def effective_on(self) -> date:
        """The producer's date of the change when the payload carries one (its service clock, which a training
        deployment moves), else the day it occurred."""
        return getattr(self.payload, "effective_on", None) or self.occurred_on

    @property
    def occurred_on(self) -> date:
        """The day it happened in China (UTC+8), the day an official would write on it."""
        return self.occurred_at.astimezone(CHINA).date()


# --- payloads ------------------------------------------------------------------------------------


class ScopeItem(BaseModel):
    occupation_code: Annotated[str, StringConstraints(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")]
    occupation_name: str
    work_type: str | None = None
    levels: list[LevelRank] = Field(min_length=1)


class FiledSite(BaseModel):
    """An exam site filed with the organization; a batch elsewhere is a new site under dual supervision."""

    address: str
    city: str
    county: str | None = None
    region: str | None = Field(
        default=None, description="GB/T 2260 code of the site's county (or city): whose department it is under"
    )


class OrganizationFiled(BaseModel):
    filing_code: str
    name: str
    credit_code: str
    org_type: str
    province: ProvinceCode
    city: str | None = None
    address: str | None = None
    scope: list[ScopeItem]
    filed_on: date
    valid_until: date
    evaluation_scope: str = Field(
        default="province", description="national, province or city: where it may recognise [G四(二)]"
    )
    sites: list[FiledSite] = Field(default_factory=list)
    region: str | None = Field(default=None, description="GB/T 2260 code of the registered address")
    selected_by: str | None = Field(
        default=None,
        description="GB/T 2260 code of the division that selected it [L5]: the province (330000) or a city "
        "(330100); its testing department approves the organization's batch plans",
    )
    short_name: str | None = None
    contact: str | None = Field(default=None, description="联系人, public in the catalogue [L10 附件4]")
    phone: str | None = Field(default=None, description="联系方式, public in the catalogue [L10 附件4]")
    email: str | None = None
    website: str | None = None


class OrganizationDetailsChanged(BaseModel):
    """An approved change of a filed organization's information or sites [L11; S附件3]: what it is now, whole,
    so a reader replaces what it had. Public, as the catalogue shows it [L10 附件4]."""

    filing_code: str
    change_id: int
    name: str
    short_name: str | None = None
    address: str | None = None
    region: str | None = None
    contact: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = None
    sites: list[FiledSite] = Field(default_factory=list)
    effective_on: date | None = Field(default=None, description="the registry's date of the change")


class OrganizationStatusChanged(BaseModel):
    """Every transition of an application or a filed organization, with who, when and why."""

    application_id: int
    filing_code: str | None = None
    name: str
    from_status: str | None
    to_status: str
    action: str
    reason: str | None = None
    actor: str
    actor_role: str
    valid_until: date | None = None
    effective_on: date | None = Field(
        default=None,
        description="the registry's date of the step (a training deployment's moved date); events "
        "without it take the day they occurred",
    )


class OrganizationScopeChanged(BaseModel):
    filing_code: str
    scope: list[ScopeItem]
    change_id: int
    effective_on: date | None = Field(default=None, description="the registry's date of the change, as above")


SanctionMeasure = Literal["rectification", "suspension", "suspension_lifted", "revocation", "removal"]


class SanctionImposed(BaseModel):
    """A measure decided by supervision on a filed organization [L28, G四(一), Z五(五)], version 2: rectification
    within a deadline, suspension (no further recognition steps), the suspension lifted, revocation of the
    qualification, or removal from the catalogue (移出目录). Version 1 events (no case) still parse."""

    filing_code: str
    measure: SanctionMeasure
    reason: str
    decided_on: date
    rectify_by: date | None = None
    case_id: str | None = None
    article: str | None = None
    decided_by: str | None = None


class CreditEntryRecorded(BaseModel):
    """An entry of the credit record (信用档案; 诚信不良档案 when serious) [L6(一), G四(一), Z五(五)], whole as it
    stands: a correction or an early end sends it again under the same id. A person's entry carries their ID
    number, so it stays within the province's services (the query service does not read it)."""

    entry_id: str
    subject_kind: Literal["organization", "person"]
    name: str
    credit_code: str | None = Field(default=None, description="the organization's 统一社会信用代码")
    filing_code: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    severity: Literal["general", "serious"]
    source: Literal["sanction", "complaint", "finding", "import"]
    source_ref: str | None = None
    reason: str
    article: str
    starts_on: date
    ends_on: date
    withdrawn: bool = Field(default=False, description="withdrawn as wrong: it never counted")

    def active_on(self, day: date) -> bool:
        return not self.withdrawn and self.starts_on <= day < self.ends_on


class RatedIndicator(BaseModel):
    """One indicator of a star rating: how often it occurred in the year, what each costs, and where."""

    code: str
    title: str
    count: int = Field(ge=0)
    points: int = Field(ge=0)
    references: list[str] = Field(default_factory=list, description="finding, complaint, batch or case ids")


class OrganizationRated(BaseModel):
    """An organization's star rating for a year (星级评定) [Z五(五)], with every input, so anyone recomputes it:
    score = max(0, 100 - sum(count x points)); stars from the policy's bands. Keyed by filing code."""

    filing_code: str
    organization_name: str
    year: int = Field(ge=2000, le=2100)
    stars: int = Field(ge=1, le=5)
    score: int = Field(ge=0, le=100)
    draw_weight: int = Field(ge=1, le=100, description="its tickets in the next inspection draws")
    indicators: list[RatedIndicator]
    rated_on: date
    formula: str = "skillcert-rating-1"


class PassedCandidate(BaseModel):
    candidate_id: str
    name: str
    id_type: str
    id_number: str


class BatchResultsApproved(BaseModel):
    """Passing candidates of an approved batch. Large batches are split into parts of one event each."""

    batch_id: str
    organization_code: str
    organization_name: str
    occupation_code: str
    occupation_name: str
    work_type: str | None = None
    level: LevelDigit
    approved_on: date
    part: int = 1
    parts: int = 1
    passed: list[PassedCandidate]


StaffRoleName = Literal["examiner", "invigilator", "quality_supervisor"]


class BatchStaffMember(BaseModel):
    """A person the plan names for the batch [L20]. Supervision matches them against its expert pool (avoidance,
    an examiner at two sites on one day); the public catalogue does not keep them."""

    name: str
    id_type: str
    id_number: str
    role: StaffRoleName


class BatchHeading(BaseModel):
    """What every event about a batch says first: which batch, whose, what and how it assesses."""

    batch_id: str
    organization_code: str
    organization_name: str
    occupation_code: str
    occupation_name: str
    work_type: str | None = None
    level: LevelDigit
    method: str


class BatchPlanApproved(BatchHeading):
    """A batch plan the testing department approved: public, so candidates can find the year's batches [L20].
    Its staff are for supervision only: the query service drops them."""

    exam_starts_on: date
    exam_ends_on: date
    site_city: str
    new_site: bool
    candidates: int
    site_address: str | None = None
    site_county: str | None = None
    site_capacity: int | None = Field(default=None, description="candidates the site can seat at once, as declared")
    site_region: str | None = Field(
        default=None, description="GB/T 2260 code of the site's county or city; a new site is notified to it"
    )
    approved_by_region: str | None = Field(
        default=None, description="GB/T 2260 code of the testing department that approved the plan [L20]"
    )
    staff: list[BatchStaffMember] = Field(default_factory=list)


ScoreComponent = Literal["theory", "skill", "defence", "performance"]


class ComponentDistribution(BaseModel):
    component: ScoreComponent
    counts: list[int] = Field(
        min_length=101,
        max_length=101,
        description="candidates per whole point: counts[k] is how many scored at least k and less than k+1 "
        "(100 counts at 100)",
    )


class RepeatedScores(BaseModel):
    """A score vector shared by several candidates of the batch (the candidates are not named)."""

    scores: dict[ScoreComponent, float]
    candidates: int = Field(ge=2)


class BatchResultsPublished(BatchHeading):
    """A batch's results went into publicity [L22]: counts and score distributions for online monitoring
    (在线监测 [L27, Z四(五)]), never a candidate."""

    site_city: str
    published_on: date
    round: int = Field(
        default=1, ge=1, description="publicity round: an upheld objection's corrected results are published again"
    )
    candidates: int = Field(ge=0)
    sat: int = Field(ge=0, description="candidates not absent")
    passed: int = Field(ge=0)
    pass_mark: float
    components: list[ComponentDistribution]
    repeated_scores: list[RepeatedScores] = Field(
        default_factory=list, description="score vectors shared by two or more candidates, the 20 most shared"
    )


class BatchResultCorrected(BaseModel):
    """A correction of one candidate's result after approval: never an edit, always this audited event [L22]."""

    batch_id: str
    correction_id: int
    organization_code: str
    candidate: PassedCandidate
    passed_before: bool
    passed_now: bool
    reason: str
    corrected_by: str
    corrected_on: date


class BatchResultsReported(BatchHeading):
    """A batch's results summary reported to the testing department [L22]: on time or late, and its objections."""

    reported_on: date
    report_due_on: date
    late: bool
    objections: int = Field(ge=0)
    objections_upheld: int = Field(ge=0)


class BatchWithdrawn(BatchHeading):
    """A batch of a suspended or revoked organization that was not approved, cancelled by the department or handed
    to another organization [L28 妥善处理后续工作]."""

    action: Literal["cancelled", "handed_over"]
    reason: str
    decided_on: date
    decided_by: str
    candidates: int = Field(ge=0)
    to_organization_code: str | None = None
    new_batch_id: str | None = None


class CertificateIssued(BaseModel):
    certificate_number: CanonicalCertificateNumber
    holder_name: str
    id_type: str
    id_number: str
    occupation_code: str
    occupation_name: str
    work_type: str | None = None
    level: LevelDigit
    level_title: str
    organization_code: str
    organization_name: str
    province: ProvinceCode
    issued_on: date
    batch_id: str
    status_list: str | None = Field(default=None, description="URL of the province's revocation status list")
    status_index: int | None = Field(default=None, description="this certificate's bit in that list")
    credential: dict[str, Any] | None = Field(
        default=None,
        description="the signed W3C Verifiable Credential (shared.kernel.credentials), as its holder gets it",
    )


class CertificateRevoked(BaseModel):
    """A province official revoked a certificate (fraud or error); the record and the number stay [L26, L28]."""

    certificate_number: CanonicalCertificateNumber
    province: ProvinceCode
    reason: Literal["fraud", "error"]
    detail: str
    revoked_on: date
    revoked_by: str
    status_list: str
    status_index: int


class SigningKeyPublished(BaseModel):
    """A province's certificate signing key for the trust list: published when created and when retired."""

    key_id: str
    province: ProvinceCode
    public_key: str = Field(description="raw Ed25519 public key, base64url")
    valid_from: date
    valid_until: date | None = None


ExpertKind = Literal["examiner", "quality_supervisor", "judge", "expert"]
ExpertStatus = Literal["active", "suspended", "retired"]
OccupationCode = Annotated[str, StringConstraints(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")]


class ExpertQualification(BaseModel):
    """What an expert may assess or supervise: an occupation, its levels, and the certificate's validity."""

    occupation_code: OccupationCode
    occupation_name: str = ""
    levels: list[LevelRank] = Field(min_length=1)
    valid_from: date
    valid_until: date


class ExpertShared(BaseModel):
    """An expert a province shares with its Yangtze Delta partners [Z五(八) 三支队伍交流]. No ID number, and ties
    only as the organizations they tie the expert to. `shared` false withdraws the expert from the exchange."""

    expert_id: str
    province: ProvinceCode
    name: str
    kinds: list[ExpertKind]
    employer_credit_code: str
    employer_region: str
    qualifications: list[ExpertQualification]
    tied_organizations: list[str] = Field(description="filing or credit codes of organizations the expert is tied to")
    status: ExpertStatus
    shared: bool = True


DrawPurpose = Literal["inspection", "technical_assessment", "performance_review", "quality_supervision"]


class PopulationFilter(BaseModel):
    """Which targets a plan draws from; every field narrows, none given means all of the kind."""

    target_kind: Literal["batch", "organization", "application"] = "batch"
    cities: list[str] = Field(default_factory=list)
    occupation_codes: list[OccupationCode] = Field(default_factory=list)
    organization_codes: list[str] = Field(default_factory=list)
    new_site_only: bool = False
    subject: str | None = Field(default=None, description="for a panel: the application id or batch id it serves")


class DrawTarget(BaseModel):
    """One member of the frozen population: a batch, a filed organization, or an application (for a panel)."""

    target_id: str
    kind: Literal["batch", "organization", "application"]
    organization_code: str
    organization_credit_code: str | None = None
    organization_name: str
    city: str | None = None
    occupation_code: str | None = None
    level: int | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    new_site: bool = False
    weight: int = Field(default=1, ge=1, le=100, description="tickets in the draw (risk class); 1 until ratings")


class TiedOrganization(BaseModel):
    organization_code: str
    reason: str = Field(description="employer, declared tie (kind), organization's staff, relative among its staff")


class PastInspection(BaseModel):
    organization_code: str
    on: date


class DrawInspector(BaseModel):
    """One member of the frozen inspector pool, with what the exclusions need: a pool id, no name or ID number
    (only the drawn are named, in their inspection's record)."""

    expert_id: str
    province: ProvinceCode
    kinds: list[ExpertKind]
    employer_credit_code: str
    qualifications: list[ExpertQualification]
    tied_organizations: list[TiedOrganization] = Field(default_factory=list)
    inspected: list[PastInspection] = Field(default_factory=list, description="within the rotation window")


class PlanTerms(BaseModel):
    """What the official publishes; hashed as `plan_hash`."""

    plan_id: str
    province: ProvinceCode
    title: str
    purpose: DrawPurpose
    period_from: date
    period_to: date
    population: PopulationFilter
    sample_size: int | None = None
    sample_percent: int | None = None
    inspectors_per_target: int
    max_targets_per_inspector: int
    inspector_kinds: list[ExpertKind]
    include_partner_experts: bool
    rotation_window_days: int
    entropy_source: str = Field(description="the public value to come, named so anyone can look it up")
    entropy_numbers: int = Field(
        ge=1, le=50, description="how many numbers the value has (双色球: 7), so one spelling of it counts"
    )
    entropy_expected_on: date
    published_on: date
    published_by: str


class InspectionPlanPublished(BaseModel):
    """A published inspection plan (or expert panel) with its frozen population: everything but the public
    value needed to repeat the draw (docs/supervision.md gives the algorithm)."""

    terms: PlanTerms
    targets: list[DrawTarget]
    inspectors: list[DrawInspector]
    plan_hash: str
    snapshot_hash: str


class DrawnTarget(BaseModel):
    target_id: str
    inspectors: list[str] = Field(description="expert ids, in draw order")
    short: bool = Field(default=False, description="fewer eligible inspectors than the plan asks for")


class DrawExclusion(BaseModel):
    target_id: str
    expert_id: str
    reason: str


class DrawRefusal(BaseModel):
    """A drawn inspector who declined (or was recused) after the draw; the next eligible one replaced them."""

    target_id: str
    expert_id: str
    ground: Literal["declined", "unavailable", "conflict_of_interest", "ineligible"]
    reason: str
    refused_on: date
    recorded_by: str = Field(description="the expert themself, or the official who recorded a recusal")
    replaced_by: str | None = None


class DrawMade(BaseModel):
    """The result of a plan's draw, with the value that seeded it and every exclusion and refusal. Re-sent
    (same key) after each refusal: the latest is the whole record."""

    plan_id: str
    province: ProvinceCode
    algorithm: str
    plan_hash: str
    snapshot_hash: str
    public_value: str
    seed: str
    drawn_on: date
    drawn_by: str
    targets: list[DrawnTarget]
    exclusions: list[DrawExclusion]
    refusals: list[DrawRefusal] = Field(default_factory=list)


class DispatchedExpert(BaseModel):
    expert_id: str
    name: str
    province: ProvinceCode


class ExpertsDispatched(BaseModel):
    """A drawn panel for a step outside supervision: the registry's technical assessment [L8], a performance
    review [L18(三)] or the external quality supervisors of a batch [L27]. Re-sent after a refusal."""

    plan_id: str
    purpose: Literal["technical_assessment", "performance_review", "quality_supervision"]
    subject: str = Field(description="the application id (registry) or batch id (recognition) it serves")
    organization_code: str = Field(
        description="whom the panel avoids: the applicant's credit code, the batch's filing code"
    )
    experts: list[DispatchedExpert]


class InspectionFinding(BaseModel):
    item_code: str
    item_title: str
    severity: Literal["minor", "major", "serious"]
    description: str = Field(description="for the exam record; not public")
    public_summary: str | None = Field(
        default=None, description="what the public is shown, if anything beyond the item"
    )
    evidence: list[str] = Field(default_factory=list, description="SHA-256 of each evidence file")


class InspectionSignature(BaseModel):
    signer: str
    role: str
    signed_at: str = Field(description="UTC, to the second: 2026-12-02T08:30:00Z")
    chain_hash: str


class InspectionRecorded(BaseModel):
    """A sealed inspection record [L27]: written into the batch's exam record (考场记录) by recognition and
    published in summary (一公开). Inspectors appear by name and pool id, never by ID number."""

    inspection_id: str
    plan_id: str | None = None
    batch_id: str | None = None
    organization_code: str
    organization_name: str
    inspected_on: date
    inspectors: list[DispatchedExpert]
    items_checked: list[str] = Field(description="codes of the policy's item list (抽查事项清单)")
    notes: str | None = Field(default=None, description="the inspectors' notes; for the exam record, not public")
    findings: list[InspectionFinding]
    signatures: list[InspectionSignature]
    record_hash: str
    sealed_on: date


# --- contracts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventContract(Generic[P]):
    """One kind of event: who produces it, its name, its payload model and its schema version."""

    service: str
    name: str
    payload: type[P]
    description: str
    version: int = 1
    # The topic keeps the latest event per key for ever (log compaction): a new reader rebuilds from it.
    compacted: bool = False
    # All of a province's events of this kind on one partition (keyed by province, not by subject): a consumer
    # applies them in the order they were published, and in that order again when it reads the log again after
    # a restore (infra/backup.py), so what it allocates from them (certificate numbers) comes out the same.
    in_publication_order: bool = False

    def key(self, *, province: str, subject: str) -> str:
        """The Kafka message key, which decides the partition."""
        return province if self.in_publication_order else subject

    @property
    def topic_config(self) -> dict[str, str]:
        return {"cleanup.policy": "compact"} if self.compacted else {}

    @property
    def type(self) -> str:
        return f"{self.service}.{self.name}"

    def topic(self, province: str, root: str = TOPIC_ROOT) -> str:
        return f"{root}.{province}.{self.service}.{self.name}"

    def pattern(self, root: str = TOPIC_ROOT) -> str:
        """Regex for this event's topic in every province, local or mirrored (`<alias>.` prefix)."""
        # No {n} quantifiers: FastStream reads braces in a pattern as path parameters.
        return (
            rf"^(?:[A-Za-z0-9_-]+\.)?{re.escape(root)}\.[0-9][0-9]\."
            rf"{re.escape(self.service)}\.{re.escape(self.name)}$"
        )

    @property
    def envelope(self) -> builtins.type[Envelope[P]]:  # `type` is also a property of this class
        return Envelope[self.payload]  # type: ignore[name-defined]

    def make(self, *, province: str, subject: str, payload: P) -> Envelope[P]:
        return self.envelope(
            type=self.type,
            version=self.version,
            province=province,
            service=self.service,
            subject=subject,
            payload=payload,
        )

    def parse(self, raw: bytes | str) -> Envelope[P]:
        """Validates a message body; raises pydantic.ValidationError or EventTypeMismatch."""
        envelope = self.envelope.model_validate_json(raw)
        if envelope.type != self.type:
            raise EventTypeMismatch(f"expected event type {self.type}, got {envelope.type}")
        return envelope


class EventTypeMismatch(ValueError):
    pass


ORGANIZATION_FILED = EventContract(
    "registry",
    "organization-filed",
    OrganizationFiled,
    "An evaluation organization was filed by the province and given its filing code and scope.",
)
BATCH_RESULTS_APPROVED = EventContract(
    "recognition",
    "batch-results-approved",
    BatchResultsApproved,
    "The province re-checked a batch's results summary; the passing candidates may be certified. Keyed by province:"
    " one partition keeps the province's approvals in order, which is the order certificates numbers them in.",
    in_publication_order=True,
)
BATCH_PLAN_APPROVED = EventContract(
    "recognition",
    "batch-plan-approved",
    BatchPlanApproved,
    "The testing department approved a batch plan; it may run. Keyed by batch id.",
)
BATCH_RESULT_CORRECTED = EventContract(
    "recognition",
    "batch-result-corrected",
    BatchResultCorrected,
    "A province official corrected one candidate's result after the batch was approved. Keyed by batch id.",
)
CERTIFICATE_ISSUED = EventContract(
    "certificates",
    "certificate-issued",
    CertificateIssued,
    "A skill level certificate was issued. Keyed by certificate number.",
    compacted=True,
)
CERTIFICATE_REVOKED = EventContract(
    "certificates",
    "certificate-revoked",
    CertificateRevoked,
    "A province official revoked a certificate (fraud or error). Keyed by certificate number.",
    compacted=True,
)
SIGNING_KEY_PUBLISHED = EventContract(
    "certificates",
    "signing-key-published",
    SigningKeyPublished,
    "A province's certificate signing key entered or left service: the trust list. Keyed by key id.",
    compacted=True,
)

ORGANIZATION_STATUS_CHANGED = EventContract(
    "registry",
    "organization-status-changed",
    OrganizationStatusChanged,
    "An application or a filed organization changed state (accepted, in publicity, suspended, expired ...).",
)
ORGANIZATION_DETAILS_CHANGED = EventContract(
    "registry",
    "organization-details-changed",
    OrganizationDetailsChanged,
    "An approved change of a filed organization's name, contact details, address or exam sites. Keyed by filing code.",
    compacted=True,
)
ORGANIZATION_SCOPE_CHANGED = EventContract(
    "registry",
    "organization-scope-changed",
    OrganizationScopeChanged,
    "An approved scope change replaced a filed organization's occupations and levels.",
)
SANCTION_IMPOSED = EventContract(
    "supervision",
    "sanction-imposed",
    SanctionImposed,
    "Supervision decided a measure on a filed organization: rectification, suspension (or its lifting), "
    "revocation, removal from the catalogue. Keyed by filing code.",
    version=2,
)
CREDIT_ENTRY_RECORDED = EventContract(
    "supervision",
    "credit-entry-recorded",
    CreditEntryRecorded,
    "An entry of an organization's or a person's credit record, whole as it stands. Keyed by entry id; "
    "within the province only (it may carry an ID number).",
    compacted=True,
)
ORGANIZATION_RATED = EventContract(
    "supervision",
    "organization-rated",
    OrganizationRated,
    "An organization's star rating for a year, with its inputs. Keyed by filing code; the latest is current.",
    compacted=True,
)
BATCH_RESULTS_REPORTED = EventContract(
    "recognition",
    "batch-results-reported",
    BatchResultsReported,
    "A batch's results summary was reported, on time or late, with its objections. Keyed by batch id.",
)
BATCH_WITHDRAWN = EventContract(
    "recognition",
    "batch-withdrawn",
    BatchWithdrawn,
    "An unapproved batch of a suspended or revoked organization was cancelled or handed over. Keyed by batch id.",
)
BATCH_RESULTS_PUBLISHED = EventContract(
    "recognition",
    "batch-results-published",
    BatchResultsPublished,
    "A batch's results went into publicity: counts and score distributions, no candidate. Keyed by batch id.",
)
EXPERT_SHARED = EventContract(
    "supervision",
    "expert-shared",
    ExpertShared,
    "An expert shared with the Yangtze Delta partners, or withdrawn (shared false). Keyed by expert id.",
    compacted=True,
)
INSPECTION_PLAN_PUBLISHED = EventContract(
    "supervision",
    "inspection-plan-published",
    InspectionPlanPublished,
    "An inspection plan (or expert panel) with its frozen population and hashes. Keyed by plan id.",
    compacted=True,
)
DRAW_MADE = EventContract(
    "supervision",
    "draw-made",
    DrawMade,
    "A plan's draw with its public value, seed, exclusions and refusals. Keyed by plan id; the latest is whole.",
    compacted=True,
)
EXPERTS_DISPATCHED = EventContract(
    "supervision",
    "experts-dispatched",
    ExpertsDispatched,
    "A drawn expert panel for a registry or recognition step. Keyed by the step's subject.",
)
INSPECTION_RECORDED = EventContract(
    "supervision",
    "inspection-recorded",
    InspectionRecorded,
    "A signed and sealed inspection record with its findings. Keyed by inspection id.",
)

ALL_CONTRACTS: tuple[EventContract[Any], ...] = (
    ORGANIZATION_FILED,
    ORGANIZATION_STATUS_CHANGED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_DETAILS_CHANGED,
    SANCTION_IMPOSED,
    CREDIT_ENTRY_RECORDED,
    ORGANIZATION_RATED,
    EXPERT_SHARED,
    INSPECTION_PLAN_PUBLISHED,
    DRAW_MADE,
    EXPERTS_DISPATCHED,
    INSPECTION_RECORDED,
    BATCH_PLAN_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    BATCH_RESULTS_APPROVED,
    BATCH_RESULT_CORRECTED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    SIGNING_KEY_PUBLISHED,
)


def dead_letter_topic(province: str, service: str, root: str = TOPIC_ROOT) -> str:
    """Where a consumer puts messages it cannot read, with the reason in the headers."""
    return f"{root}.{province}.{service}.dead-lettered"


def contract_for(event_type: str) -> EventContract[Any]:
    for contract in ALL_CONTRACTS:
        if contract.type == event_type:
            return contract
    raise LookupError(f"unknown event type {event_type}")
