"""The public lookup's documents. A certificate is kept in Redis as its `CertificateView` JSON, validated
when it is written (its revocation merged in), so a lookup sends the stored bytes as they are."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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
