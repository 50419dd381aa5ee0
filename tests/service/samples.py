"""Valid payloads of every event contract, and envelopes of them as their producer would send them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from infra.walkthrough import candidate
from shared.kernel import credentials
from shared.kernel.events import (
    ALL_CONTRACTS,
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    CREDIT_ENTRY_RECORDED,
    DRAW_MADE,
    EXPERT_SHARED,
    EXPERTS_DISPATCHED,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_RATED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SANCTION_IMPOSED,
    SIGNING_KEY_PUBLISHED,
    BatchPlanApproved,
    BatchResultCorrected,
    BatchResultsApproved,
    BatchResultsPublished,
    BatchResultsReported,
    BatchStaffMember,
    BatchWithdrawn,
    CertificateIssued,
    CertificateRevoked,
    ComponentDistribution,
    CreditEntryRecorded,
    DispatchedExpert,
    DrawMade,
    DrawnTarget,
    DrawTarget,
    Envelope,
    EventContract,
    ExpertQualification,
    ExpertsDispatched,
    ExpertShared,
    FiledSite,
    InspectionFinding,
    InspectionPlanPublished,
    InspectionRecorded,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationRated,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    PassedCandidate,
    PlanTerms,
    PopulationFilter,
    RatedIndicator,
    SanctionImposed,
    ScopeItem,
    SigningKeyPublished,
    contract_for,
)
from shared.kernel.numbering import CertificateNumber, FilingCode, Level
from shared.platform.replicas import FiledOrganization

PROVINCE = "33"
ORGANIZATION = "S000033000001"
BATCH = "batch-1"
KEY_ID = "32-20260101-1"
FILED_ON = date(2026, 1, 5)


def certificate_number(organization: str = ORGANIZATION, serial: int = 1, level: int = 4) -> str:
    return str(CertificateNumber(FilingCode.parse(organization), 26, Level(level), serial))


def scope(levels: list[int] | None = None) -> list[ScopeItem]:
    return [ScopeItem(occupation_code="6-18-01-01", occupation_name="车工", levels=levels or [5, 4, 3])]


def organization_filed(code: str = ORGANIZATION, *, levels: list[int] | None = None) -> OrganizationFiled:
    return OrganizationFiled(
        filing_code=code,
        name="杭州市机械行业协会技能评价中心1号",
        credit_code="91330100MA0000001X",
        org_type=code[0],
        province=code[5:7],
        city="杭州市",
        address="杭州市人民路1号",
        scope=scope(levels),
        filed_on=FILED_ON,
        valid_until=date(2029, 1, 4),
        region="330106",
        selected_by="330000",
        contact="李明",
        phone="0571-88886666",
    )


def filed_replica(today: date, code: str = ORGANIZATION, *, levels: list[int] | None = None) -> FiledOrganization:
    """The replica row a provincial service keeps of `organization_filed`: filed a month before `today`, one site."""
    filed = organization_filed(code, levels=levels)
    return FiledOrganization(
        filing_code=filed.filing_code,
        name=filed.name,
        org_type=filed.org_type,
        province=PROVINCE,
        city=filed.city,
        scope=[item.model_dump() for item in filed.scope],
        filed_on=today - timedelta(days=30),
        valid_until=today + timedelta(days=900),
        sites=[{"address": "杭州市人民路1号", "city": "杭州市"}],
    )


def status_changed(
    code: str | None = ORGANIZATION,
    *,
    to_status: str = "suspended",
    from_status: str = "filed",
    action: str = "suspend",
    valid_until: date | None = None,
) -> OrganizationStatusChanged:
    return OrganizationStatusChanged(
        application_id=1,
        filing_code=code,
        name="杭州市机械行业协会技能评价中心1号",
        from_status=from_status,
        to_status=to_status,
        action=action,
        reason="抽查发现问题",
        actor="official-1",
        actor_role="province_official",
        valid_until=valid_until,
    )


def scope_changed(code: str = ORGANIZATION, *, levels: list[int] | None = None) -> OrganizationScopeChanged:
    return OrganizationScopeChanged(filing_code=code, scope=scope(levels or [5, 4, 3, 2]), change_id=1)


def details_changed(code: str = ORGANIZATION, *, phone: str = "0571-87000000") -> OrganizationDetailsChanged:
    return OrganizationDetailsChanged(
        filing_code=code,
        change_id=2,
        name="杭州市技能培训评价中心",
        address="杭州市西湖区文三路1号",
        region="330106",
        contact="王老师",
        phone=phone,
        sites=[FiledSite(address="杭州市西湖区文三路1号", city="杭州市", county="西湖区", region="330106")],
    )


def sanction(code: str = ORGANIZATION, measure: str = "suspension") -> SanctionImposed:
    return SanctionImposed.model_validate(
        {
            "filing_code": code,
            "measure": measure,
            "reason": "考评员不足",
            "decided_on": "2026-03-01",
            "rectify_by": "2026-04-01" if measure == "rectification" else None,
        }
    )


def passed(index: int) -> PassedCandidate:
    person = candidate(PROVINCE, index)
    return PassedCandidate(
        candidate_id=f"c{index}", name=person["name"], id_type=person["id_type"], id_number=person["id_number"]
    )


def batch_results(batch_id: str = BATCH, *, count: int = 2, organization: str = ORGANIZATION) -> BatchResultsApproved:
    return BatchResultsApproved(
        batch_id=batch_id,
        organization_code=organization,
        organization_name="杭州市机械行业协会技能评价中心1号",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=4,
        approved_on=date(2026, 3, 2),
        passed=[passed(i) for i in range(count)],
    )


def batch_plan(batch_id: str = BATCH, organization: str = ORGANIZATION) -> BatchPlanApproved:
    return BatchPlanApproved(
        batch_id=batch_id,
        organization_code=organization,
        organization_name="杭州市机械行业协会技能评价中心1号",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=4,
        method="assessment",
        exam_starts_on=date(2026, 4, 1),
        exam_ends_on=date(2026, 4, 2),
        site_city="杭州市",
        new_site=False,
        candidates=2,
        site_address="杭州市西湖区文三路1号",
        site_capacity=40,
        staff=[
            BatchStaffMember(name=p["name"], id_type=p["id_type"], id_number=p["id_number"], role=role)
            for p, role in ((candidate(PROVINCE, 900), "examiner"), (candidate(PROVINCE, 901), "quality_supervisor"))
        ],
    )


def results_published(batch_id: str = BATCH, *, passed_count: int = 30, sat: int = 40) -> BatchResultsPublished:
    theory = [0] * 101
    theory[75] = sat
    return BatchResultsPublished(
        batch_id=batch_id,
        organization_code=ORGANIZATION,
        organization_name="杭州市机械行业协会技能评价中心1号",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=4,
        method="assessment",
        site_city="杭州市",
        published_on=date(2026, 4, 6),
        candidates=sat,
        sat=sat,
        passed=passed_count,
        pass_mark=60,
        components=[ComponentDistribution(component="theory", counts=theory)],
    )


def qualification() -> ExpertQualification:
    return ExpertQualification(
        occupation_code="6-18-01-01",
        occupation_name="车工",
        levels=[5, 4, 3],
        valid_from=date(2025, 1, 1),
        valid_until=date(2029, 12, 31),
    )


def expert_shared(expert_id: str = "33-E000001") -> ExpertShared:
    return ExpertShared(
        expert_id=expert_id,
        province=expert_id[:2],
        name="王督导",
        kinds=["quality_supervisor"],
        employer_credit_code="91330100MA2XXXXX1X",
        employer_region="330100",
        qualifications=[qualification()],
        tied_organizations=[],
        status="active",
    )


def plan_published(plan_id: str = "33-P000001") -> InspectionPlanPublished:
    terms = PlanTerms(
        plan_id=plan_id,
        province=PROVINCE,
        title="2026年第二季度职业技能等级认定双随机抽查",
        purpose="inspection",
        period_from=date(2026, 4, 1),
        period_to=date(2026, 6, 30),
        population=PopulationFilter(),
        sample_size=1,
        inspectors_per_target=1,
        max_targets_per_inspector=3,
        inspector_kinds=["quality_supervisor"],
        include_partner_experts=True,
        rotation_window_days=365,
        entropy_source="中国福利彩票双色球 2026040期开奖号码",
        entropy_numbers=7,
        entropy_expected_on=date(2026, 4, 9),
        published_on=date(2026, 4, 1),
        published_by="official-1",
    )
    target = DrawTarget(
        target_id=BATCH,
        kind="batch",
        organization_code=ORGANIZATION,
        organization_name="杭州市机械行业协会技能评价中心1号",
        city="杭州市",
        occupation_code="6-18-01-01",
        level=4,
        starts_on=date(2026, 4, 1),
    )
    return InspectionPlanPublished(
        terms=terms, targets=[target], inspectors=[], plan_hash="0" * 64, snapshot_hash="1" * 64
    )


def draw_made(plan_id: str = "33-P000001") -> DrawMade:
    return DrawMade(
        plan_id=plan_id,
        province=PROVINCE,
        algorithm="skillcert-draw-1",
        plan_hash="0" * 64,
        snapshot_hash="1" * 64,
        public_value="03 07 12 19 25 31 + 09",
        seed="2" * 64,
        drawn_on=date(2026, 4, 9),
        drawn_by="official-1",
        targets=[DrawnTarget(target_id=BATCH, inspectors=["33-E000001"])],
        exclusions=[],
    )


def experts_dispatched(subject: str = BATCH) -> ExpertsDispatched:
    return ExpertsDispatched(
        plan_id="33-P000002",
        purpose="quality_supervision",
        subject=subject,
        organization_code=ORGANIZATION,
        experts=[DispatchedExpert(expert_id="33-E000001", name="王督导", province=PROVINCE)],
    )


def inspection_recorded(inspection_id: str = "33-I000001") -> InspectionRecorded:
    return InspectionRecorded(
        inspection_id=inspection_id,
        plan_id="33-P000001",
        batch_id=BATCH,
        organization_code=ORGANIZATION,
        organization_name="杭州市机械行业协会技能评价中心1号",
        inspected_on=date(2026, 4, 1),
        inspectors=[DispatchedExpert(expert_id="33-E000001", name="王督导", province=PROVINCE)],
        items_checked=["plan", "internal_supervisors"],
        findings=[
            InspectionFinding(
                item_code="plan", item_title="实施计划与现场一致", severity="minor", description="考场座位与计划不符"
            )
        ],
        signatures=[],
        record_hash="3" * 64,
        sealed_on=date(2026, 4, 1),
    )


def correction(
    index: int = 0, *, passed_now: bool = False, batch_id: str = BATCH, correction_id: int = 1
) -> BatchResultCorrected:
    return BatchResultCorrected(
        batch_id=batch_id,
        correction_id=correction_id,
        organization_code=ORGANIZATION,
        candidate=passed(index),
        passed_before=not passed_now,
        passed_now=passed_now,
        reason="复核发现计分错误",
        corrected_by="official-1",
        corrected_on=date(2026, 3, 10),
    )


def certificate_issued(number: str | None = None) -> CertificateIssued:
    number = number or certificate_number()
    person = passed(0)
    return CertificateIssued(
        certificate_number=number,
        holder_name=person.name,
        id_type=person.id_type,
        id_number=person.id_number,
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=int(number[15]),
        level_title="四级/中级工",
        organization_code=number[:13],
        organization_name="杭州市机械行业协会技能评价中心1号",
        province=number[5:7],
        issued_on=date(2026, 3, 3),
        batch_id=BATCH,
    )


def certificate_revoked(number: str | None = None) -> CertificateRevoked:
    number = number or certificate_number()
    return CertificateRevoked(
        certificate_number=number,
        province=number[5:7],
        reason="fraud",
        detail="以欺骗手段取得",
        revoked_on=date(2026, 3, 20),
        revoked_by="official-1",
        status_list=f"https://cx.example.cn/status-lists/{number[5:7]}/1",
        status_index=7,
    )


def signing_key(key_id: str = KEY_ID, *, valid_until: date | None = None) -> SigningKeyPublished:
    return SigningKeyPublished(
        key_id=key_id,
        province=key_id[:2],
        public_key=credentials.public_key_text(Ed25519PrivateKey.from_private_bytes(bytes(32))),
        valid_from=date(2026, 1, 1),
        valid_until=valid_until,
    )


HEADING: dict[str, Any] = {
    "batch_id": BATCH,
    "organization_code": ORGANIZATION,
    "organization_name": "杭州市机械行业协会技能评价中心1号",
    "occupation_code": "6-18-01-01",
    "occupation_name": "车工",
    "level": 4,
    "method": "assessment",
}


def credit_entry(entry_id: str = "33-K000001", *, severity: str = "serious") -> CreditEntryRecorded:
    return CreditEntryRecorded.model_validate(
        {
            "entry_id": entry_id,
            "subject_kind": "organization",
            "name": "杭州市机械行业协会技能评价中心1号",
            "credit_code": "91330100MA27XL0Q2L",
            "filing_code": ORGANIZATION,
            "severity": severity,
            "source": "sanction",
            "source_ref": "33-C000001",
            "reason": "revocation: scores falsified",
            "article": "L28",
            "starts_on": date(2026, 5, 1),
            "ends_on": date(2029, 5, 1),
        }
    )


def organization_rated(code: str = ORGANIZATION, *, year: int = 2026, stars: int = 4) -> OrganizationRated:
    return OrganizationRated(
        filing_code=code,
        organization_name="杭州市机械行业协会技能评价中心1号",
        year=year,
        stars=stars,
        score=80,
        draw_weight=2,
        indicators=[RatedIndicator(code="finding_major", title="较重问题", count=4, points=5, references=["x"])],
        rated_on=date(year + 1, 1, 2),
    )


def results_reported(batch_id: str = BATCH, *, late: bool = True) -> BatchResultsReported:
    return BatchResultsReported.model_validate(
        {
            **HEADING,
            "batch_id": batch_id,
            "reported_on": date(2026, 4, 20),
            "report_due_on": date(2026, 4, 17),
            "late": late,
            "objections": 2,
            "objections_upheld": 1,
        }
    )


def batch_withdrawn(batch_id: str = BATCH) -> BatchWithdrawn:
    return BatchWithdrawn.model_validate(
        {
            **HEADING,
            "batch_id": batch_id,
            "action": "cancelled",
            "reason": "the organization was revoked",
            "decided_on": date(2026, 5, 2),
            "decided_by": "official-1",
            "candidates": 2,
        }
    )


# One valid payload of each contract, for the checks every subscription shares.
SAMPLES: dict[str, Callable[[], BaseModel]] = {
    ORGANIZATION_FILED.type: organization_filed,
    ORGANIZATION_STATUS_CHANGED.type: status_changed,
    ORGANIZATION_SCOPE_CHANGED.type: scope_changed,
    ORGANIZATION_DETAILS_CHANGED.type: details_changed,
    SANCTION_IMPOSED.type: sanction,
    CREDIT_ENTRY_RECORDED.type: credit_entry,
    ORGANIZATION_RATED.type: organization_rated,
    BATCH_RESULTS_REPORTED.type: results_reported,
    BATCH_WITHDRAWN.type: batch_withdrawn,
    BATCH_PLAN_APPROVED.type: batch_plan,
    BATCH_RESULTS_APPROVED.type: batch_results,
    BATCH_RESULTS_PUBLISHED.type: results_published,
    EXPERT_SHARED.type: expert_shared,
    INSPECTION_PLAN_PUBLISHED.type: plan_published,
    DRAW_MADE.type: draw_made,
    EXPERTS_DISPATCHED.type: experts_dispatched,
    INSPECTION_RECORDED.type: inspection_recorded,
    BATCH_RESULT_CORRECTED.type: correction,
    CERTIFICATE_ISSUED.type: certificate_issued,
    CERTIFICATE_REVOKED.type: certificate_revoked,
    SIGNING_KEY_PUBLISHED.type: signing_key,
}
assert set(SAMPLES) == {contract.type for contract in ALL_CONTRACTS}, "a contract without a sample payload"

SUBJECT_FIELDS = (
    "entry_id",
    "certificate_number",
    "key_id",
    "inspection_id",
    "subject",
    "filing_code",
    "batch_id",
    "expert_id",
    "plan_id",
)


def subject_of(payload: BaseModel) -> str:
    """The record key its producer uses: certificate number, key id, inspection id, dispatch subject, filing code,
    batch id, expert id or plan id."""
    if isinstance(payload, InspectionPlanPublished):
        return payload.terms.plan_id
    for name in SUBJECT_FIELDS:
        value = getattr(payload, name, None)
        if value:
            return str(value)
    return "application-1"


def envelope(
    payload: BaseModel, *, province: str = PROVINCE, contract: EventContract[Any] | None = None
) -> Envelope[Any]:
    """An envelope of `payload` as its producer in `province` makes it (the contract found by payload type)."""
    if contract is None:
        [contract] = [c for c in ALL_CONTRACTS if c.payload is type(payload)]
    return contract.make(province=province, subject=subject_of(payload), payload=payload)


def sample(event_type: str, *, province: str = PROVINCE) -> Envelope[Any]:
    return envelope(SAMPLES[event_type](), province=province, contract=contract_for(event_type))
