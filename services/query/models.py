"""The public lookup's documents. A certificate is kept in Redis as its `CertificateView` JSON, validated
when it is written (its revocation merged in), so a lookup sends the stored bytes as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.kernel.events import DrawMade, InspectionPlanPublished


class Check(BaseModel):
    name: str = Field(description="integrity, signature, organization or status")
    passed: bool | None = Field(description="None: could not be checked (yet)")
    detail: str


class Verification(BaseModel):
    verified: bool | None = Field(
        description="True when every check passed; False when one failed; None when one could not be checked yet"
    )
    checks: list[Check]


class CertificateView(BaseModel):
    certificate_number: str
    holder_name: str
    id_type: str
    id_number_masked: str
    occupation_code: str
    occupation_name: str
    work_type: str
    level: int
    level_title: str
    organization_code: str = Field(description="the issuing organization's filing code")
    organization_name: str
    province: str
    issued_on: str
    status: str = Field(description="valid, or revoked")
    revoked_on: str | None = None
    revocation_reason: str | None = Field(default=None, description="fraud or error")
    verification: Verification


class HolderLookup(BaseModel):
    """A lookup by holder: in the body, so that the ID number is in no URL, access log or trace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, description="the holder's name")
    id_number: str = Field(min_length=6, max_length=32, description="the holder's ID number")


# What `POST /verifications` checks of an uploaded credential before verifying it: the types of the parts the
# verifier reads (strictly: a claim's value is hashed as it is, so nothing is converted). The document itself is
# verified as uploaded; these models only refuse, with 422, what is not a credential at all.


class UploadedSubject(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    certificateNumber: str
    issuedOn: str = Field(description="YYYY-MM-DD")
    organizationCode: str
    occupationCode: str
    level: int
    province: str = ""


class UploadedProof(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    type: str = ""
    verificationMethod: str = Field(default="", description="the signing key's id, on the trust list")
    salts: dict[str, str] = Field(default_factory=dict)
    obfuscated: list[str] = Field(default_factory=list, description="hashes of the claims the holder hid")
    targetHash: str = ""
    merkleRoot: str = ""
    merkleProof: list[str] = Field(default_factory=list)
    proofValue: str = ""


class UploadedCredential(BaseModel):
    """The W3C Verifiable Credential of a skill certificate, as the holder received it (claims may be hidden)."""

    model_config = ConfigDict(strict=True, extra="allow")

    credentialSubject: UploadedSubject
    proof: UploadedProof = Field(default_factory=UploadedProof)
    issuer: dict[str, Any] = Field(default_factory=dict)
    credentialStatus: dict[str, Any] = Field(default_factory=dict)


class LookupResult(BaseModel):
    data: list[CertificateView]
    count: int


class Page(BaseModel):
    data: list[dict[str, Any]]
    count: int = Field(description="matches in all, of which `data` is one page")


def summary(checks: list[dict[str, Any]]) -> dict[str, Any]:
    """The `Verification` of these checks: False if one failed, True if all passed, None otherwise."""
    passed = [check["passed"] for check in checks]
    verified = False if False in passed else (True if passed and all(passed) else None)
    return {"verified": verified, "checks": checks}


# --- supervision, published (一公开 [L27, Z四(五)]) ------------------------------------------------------
# The summaries are built through these models when an event is stored, so only the fields named here are kept.


class FindingSummary(BaseModel):
    """A finding as the public sees it: the item, the severity and the inspectors' public summary. The full
    description stays in the exam record: it may name people."""

    item_title: str
    severity: str = Field(description="minor, major or serious")
    public_summary: str | None = None


class InspectionSummary(BaseModel):
    """An inspection result as published: who was inspected when, by whom (names), what was checked and found.
    Inspectors' pool ids, evidence files and signatures stay with supervision."""

    province: str = Field(description="the inspecting province")
    inspection_id: str
    plan_id: str | None
    batch_id: str | None
    organization_code: str = Field(description="the organization's filing code")
    organization_name: str
    inspected_on: str
    inspectors: list[str] = Field(description="the inspectors' names")
    items_checked: list[str] = Field(description="codes of the province's item list (抽查事项清单)")
    findings: list[FindingSummary]
    sealed_on: str
    record_hash: str


class InspectionPlanSummary(BaseModel):
    """A published inspection plan (or expert panel) in the catalogue; its draw is joined when served."""

    province: str
    plan_id: str
    title: str
    purpose: str = Field(description="inspection, technical_assessment, performance_review or quality_supervision")
    period_from: str
    period_to: str
    published_on: str
    entropy_source: str = Field(description="the public value the draw will use, named in advance")
    entropy_expected_on: str
    population_size: int = Field(description="targets in the frozen population")


class DrawSummary(BaseModel):
    """What the plans catalogue shows of a plan's draw, and when its latest version was sent."""

    province: str
    plan_id: str
    drawn_on: str
    drawn_targets: int
    sent_at: str = Field(description="the envelope's occurred_at: a re-sent draw replaces an older one")


class PlanDocuments(BaseModel):
    """A plan and its draw as published: what the offline verifier reads (plan.json, draw.json)."""

    plan: InspectionPlanPublished = Field(description="the plan as published")
    draw: DrawMade | None = Field(description="the latest draw, or null before the draw")


# --- star ratings (星级评定 [Z五(五)]) ----------------------------------------------------------------------


class RatedIndicatorView(BaseModel):
    """One indicator of a rating as published: enough to recompute the score (count x points)."""

    code: str
    title: str
    count: int
    points: int = Field(description="deducted from 100 for each occurrence")
    references: list[str] = Field(
        description="the findings, batches and cases it counts; an upheld complaint's tracking code is left out (it "
        "shows the complaint's status and reply to whoever holds it)"
    )


class RatingView(BaseModel):
    """An organization's latest star rating, on its catalogue entry: score = max(0, 100 - sum(count x points))."""

    province: str = Field(description="the rating province")
    year: int
    stars: int = Field(description="1 to 5")
    score: int
    draw_weight: int = Field(description="its tickets in the province's next inspection draws")
    indicators: list[RatedIndicatorView]
    rated_on: str
    formula: str


class RatingRecord(RatingView):
    """A rating as kept: and when it was sent, so a re-sent rating of the same year replaces an older one."""

    sent_at: str


# --- complaints and reports (投诉举报), forwarded to the province's supervision -------------------------------
# For the API's documentation only: the bodies are forwarded as they come, and the answers as supervision gives them.


class ComplaintForm(BaseModel):
    """A complaint or report, forwarded unchanged to the province's supervision, which checks it."""

    about: str = Field(description="organization, batch, certificate or person")
    reference: str = Field(description="filing code, batch id, certificate number, or the person's name and role")
    organization_code: str | None = Field(default=None, description="the organization's filing code, when known")
    text: str = Field(description="10 to 4,000 characters")
    anonymous: bool = False
    contact: dict[str, str | None] | None = Field(
        default=None,
        description='{"name", "phone", "email"}: a phone or an e-mail address for the reply; none when anonymous',
    )
    attachments: list[str] = Field(default_factory=list, description="the SHA-256 (hex) of each file, not the file")


class ComplaintReceipt(BaseModel):
    tracking_code: str = Field(description="e.g. 33-8H4K2M9QX4PZ: the complainant follows the complaint by it")
    status: str = Field(description="received")
    received_on: str
    acknowledge_by: str = Field(description="the day it is to be acknowledged (受理) by")
    handle_by: str = Field(description="the day it is to be handled by")


class ComplaintStatusView(BaseModel):
    """What anyone holding the tracking code sees: no contact details, not the text."""

    tracking_code: str
    about: str
    reference: str
    status: str = Field(description="received, acknowledged, investigating or closed")
    received_on: str
    acknowledged_on: str | None
    acknowledge_by: str
    handle_by: str
    late: bool
    outcome: str | None = Field(description="null, upheld or unfounded")
    reply: str | None
    closed_on: str | None
