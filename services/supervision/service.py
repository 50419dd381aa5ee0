"""Supervision: the expert pool, the inspection population, plans and their draws, inspections with findings
and signatures, and online monitoring. Keyword-only functions over a unit of work: they flush and emit, and
the edge that made the unit commits. Rules are in rules.py, the draw in draw.py.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from sqlalchemy import and_, or_
from sqlmodel import SQLModel, col, func, select

from shared.kernel.clock import utcnow
from shared.kernel.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound
from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    DRAW_MADE,
    EXPERT_SHARED,
    EXPERTS_DISPATCHED,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_RATED,
    SANCTION_IMPOSED,
    BatchPlanApproved,
    BatchResultCorrected,
    BatchResultsPublished,
    BatchResultsReported,
    BatchWithdrawn,
    CreditEntryRecorded,
    DispatchedExpert,
    DrawInspector,
    DrawMade,
    DrawRefusal,
    DrawTarget,
    ExpertQualification,
    ExpertsDispatched,
    ExpertShared,
    InspectionFinding,
    InspectionPlanPublished,
    InspectionRecorded,
    InspectionSignature,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationRated,
    PastInspection,
    PlanTerms,
    PopulationFilter,
    SanctionImposed,
    TiedOrganization,
)
from shared.kernel.privacy import mask_id_number
from shared.kernel.workdays import add_working_days, add_years
from shared.platform import replicas
from shared.platform.auth import Actor, Principal, Role
from shared.platform.bus import EventTooEarly
from shared.platform.db import fetch, upsert
from shared.platform.replicas import FiledOrganization
from shared.platform.sequences import next_value
from shared.platform.unit import Unit

from . import draw, rules
from .models import (
    Alert,
    AlertDecision,
    AlertPublic,
    AlertRule,
    AlertStatus,
    ArchiveHandOver,
    Case,
    CaseCreate,
    CaseOrigin,
    CasePublic,
    CaseStatus,
    CaseStep,
    Complaint,
    ComplaintContact,
    ComplaintCreate,
    ComplaintNote,
    ComplaintNoteCreate,
    ComplaintOutcome,
    ComplaintPublic,
    ComplaintStatus,
    ComplaintStatusPublic,
    CorrectedResult,
    CreditEntry,
    CreditEntryCreate,
    CreditEntryPublic,
    CreditImport,
    DeclarationsUpdate,
    EntryKind,
    Expert,
    ExpertCreate,
    ExpertEntry,
    ExpertEntryCreate,
    ExpertEntryPublic,
    ExpertPublic,
    ExpertTiePublic,
    ExpertUpdate,
    Finding,
    FindingCreate,
    FindingPublic,
    InspectableOrganizationPublic,
    Inspection,
    InspectionPlan,
    InspectionPublic,
    InspectionRecordUpdate,
    InspectionStatus,
    MeasureDecision,
    OrganizationCredit,
    OrganizationDivision,
    OrganizationRating,
    PartnerExpert,
    PlanCreate,
    PlanDocuments,
    PlannedBatch,
    PlannedBatchPublic,
    PlanPublic,
    PlanRefusal,
    PlanStatus,
    PublishedResults,
    RatingRun,
    RectificationReport,
    RectificationReportCreate,
    RefusalCreate,
    ReportedResults,
    Signature,
    StaffMemberPublic,
    VerificationCreate,
    WithdrawalCreate,
    WithdrawnBatch,
)
from .record import chain_hash, record_hash
from .settings import SupervisionSettings

U = Unit[SupervisionSettings]
M = TypeVar("M", bound=SQLModel)
SEQUENCE_MAXIMUM = 999_999
# Published with the plan, so coarse: the public sees that an expert avoids an organization, not why (a
# relative, a stake). The expert's record in this service keeps the declaration itself.
DECLARED_TIE = "declared tie (回避)"
RECORDED_TIE = "on its batch staff, or a relative is (回避)"
SYSTEM = Actor("supervision", "system")


def _next_id(unit: U, letter: str) -> str:
    number = next_value(unit.session, f"supervision-{letter}-{unit.province}", maximum=SEQUENCE_MAXIMUM)
    return f"{unit.province}-{letter}{number:06d}"


# --- the expert pool [Z四(四), Z五(五)] -----------------------------------------------------------------


def register_expert(*, unit: U, expert_in: ExpertCreate, actor: Actor) -> Expert:
    # The id first: its counter row queues two registrations of one person, so the second sees the first.
    expert_id = _next_id(unit, "E")
    existing = unit.session.exec(
        select(Expert.id).where(Expert.id_type == expert_in.id_type, Expert.id_number == expert_in.id_number)
    ).first()
    if existing is not None:
        raise Conflict(f"this person is already in the pool as {existing}")
    entry = _active_serious(unit, id_type=expert_in.id_type, id_number=expert_in.id_number)
    if entry is not None:
        raise FieldError(
            "id_number", f"serious credit entry {entry.id} active until {entry.ends_on} [Z五(五) 诚信不良档案]"
        )
    expert = Expert.model_validate(
        expert_in,
        update={
            "id": expert_id,
            "kinds": list(expert_in.kinds),
            "qualifications": [q.model_dump(mode="json") for q in expert_in.qualifications],
            "ties": [t.model_dump(mode="json") for t in expert_in.ties],
            "created_by": actor.subject,
            "updated_by": actor.subject,
        },
    )
    unit.session.add(expert)
    unit.session.flush()
    _add_entry(unit, expert, EntryKind.CHANGE, "registered in the pool", actor)
    if expert.shared:
        _emit_shared(unit, expert)
    return expert


def update_expert(*, unit: U, expert_id: str, update: ExpertUpdate, actor: Actor) -> Expert:
    expert = _expert_for_update(unit, expert_id)
    was_shared = expert.shared
    changes = update.model_dump(exclude_unset=True, exclude={"reason"}, mode="json")
    for name, value in changes.items():
        setattr(expert, name, value)
    expert.updated_by = actor.subject
    unit.session.add(expert)
    _add_entry(
        unit, expert, EntryKind.CHANGE, f"{', '.join(sorted(changes)) or 'nothing'} changed: {update.reason}", actor
    )
    if expert.shared or was_shared:
        _emit_shared(unit, expert)
    return expert


def correct_declarations(*, unit: U, expert_id: str, declarations: DeclarationsUpdate, actor: Actor) -> Expert:
    """An expert corrects their own declared ties; the change is kept in their archive."""
    expert = _expert_for_update(unit, expert_id)
    expert.ties = [tie.model_dump(mode="json") for tie in declarations.ties]
    expert.updated_by = actor.subject
    unit.session.add(expert)
    _add_entry(unit, expert, EntryKind.CHANGE, f"declarations corrected by the expert: {len(expert.ties)} ties", actor)
    if expert.shared:
        _emit_shared(unit, expert)
    return expert


def add_entry(*, unit: U, expert_id: str, entry_in: ExpertEntryCreate, actor: Actor) -> ExpertEntry:
    expert = get_expert(unit=unit, expert_id=expert_id)
    if entry_in.on > unit.today:
        raise FieldError("on", f"{entry_in.on} is in the future (today is {unit.today})")
    entry = ExpertEntry(
        expert_id=expert.id,
        kind=EntryKind(entry_in.kind),
        on=entry_in.on,
        content=entry_in.content,
        result=entry_in.result,
        recorded_by=actor.subject,
    )
    unit.session.add(entry)
    unit.session.flush()
    return entry


def _add_entry(unit: U, expert: Expert, kind: EntryKind, content: str, actor: Actor) -> None:
    unit.session.add(
        ExpertEntry(expert_id=expert.id, kind=kind, on=unit.today, content=content, recorded_by=actor.subject)
    )


def _tied_codes(expert: Expert) -> list[str]:
    return sorted({tie["organization_code"] for tie in expert.ties})


def _emit_shared(unit: U, expert: Expert) -> None:
    payload = ExpertShared(
        expert_id=expert.id,
        province=unit.province,
        name=expert.name,
        kinds=expert.kinds,
        employer_credit_code=expert.employer_credit_code,
        employer_region=expert.employer_region,
        qualifications=[ExpertQualification.model_validate(q) for q in expert.qualifications],
        tied_organizations=[expert.employer_credit_code, *_tied_codes(expert)],
        status=expert.status,
        shared=expert.shared,
    )
    unit.emit(EXPERT_SHARED, subject=expert.id, payload=payload)


def _found(unit: U, model: type[M], key: str | int, missing: str, *, lock: bool = False) -> M:
    """The row, or 404 with `missing`. `lock`: two people pressing the same button queue here, and the second
    reads what the first did (shared.platform.db.locked)."""
    row = fetch(unit.session, model, key, lock=lock)
    if row is None:
        raise NotFound(missing)
    return row


def _expert_for_update(unit: U, expert_id: str) -> Expert:
    return _found(unit, Expert, expert_id, f"no expert {expert_id} in this province's pool", lock=True)


def get_expert(*, unit: U, expert_id: str) -> Expert:
    return _found(unit, Expert, expert_id, f"no expert {expert_id} in this province's pool")


def experts(
    *, unit: U, kind: str | None, status: str | None, occupation: str | None, q: str | None, skip: int, limit: int
) -> tuple[list[Expert], int]:
    statement = select(Expert)
    if status:
        statement = statement.where(Expert.status == status)
    if q:
        statement = statement.where(or_(col(Expert.name).contains(q), col(Expert.employer_name).contains(q)))
    found = [
        e
        for e in unit.session.exec(statement.order_by(col(Expert.id)))
        if (not kind or kind in e.kinds)
        and (not occupation or any(qual["occupation_code"] == occupation for qual in e.qualifications))
    ]
    return found[skip : skip + limit], len(found)


def expert_public(*, unit: U, expert: Expert, with_entries: bool = False, masked: bool = True) -> ExpertPublic:
    """The expert's record; ID numbers (theirs and their relatives') masked unless `masked` is False."""
    entries: list[ExpertEntryPublic] = []
    if with_entries:
        rows = unit.session.exec(
            select(ExpertEntry).where(ExpertEntry.expert_id == expert.id).order_by(col(ExpertEntry.id))
        )
        entries = [ExpertEntryPublic.model_validate(e, from_attributes=True) for e in rows]

    def shown(id_number: str | None) -> str | None:
        return id_number if id_number is None or not masked else mask_id_number(id_number)

    ties = [
        ExpertTiePublic.model_validate({**t, "relative_id_number": shown(t.get("relative_id_number"))})
        for t in expert.ties
    ]
    return ExpertPublic.model_validate(
        {**expert.model_dump(), "id_number": shown(expert.id_number), "ties": ties, "entries": entries}
    )


def keep_partner_expert(*, unit: U, shared: ExpertShared, province: str) -> None:
    """A partner's shared expert, kept when the policy lists that partner [Z五(八)]."""
    if province == unit.province or province not in unit.policy.supervision.partner_provinces:
        return
    _keep(unit, PartnerExpert, {**shared.model_dump(mode="json"), "province": province})


# --- the population (一单两库) --------------------------------------------------------------------------


def _keep(unit: U, model: type[M], values: dict[str, Any]) -> M:
    return upsert(unit.session, model, values)


def keep_credit_code(*, unit: U, filing_code: str, credit_code: str) -> None:
    _keep(unit, OrganizationCredit, {"filing_code": filing_code, "credit_code": credit_code})


def keep_division(*, unit: U, filed: OrganizationFiled) -> OrganizationDivision:
    """Whose a filed organization is (selecting division, registered address) [L5]. A filing delivered again after
    an approved change of details (filings come once: the change is always the later) keeps the change: the
    replica gets its name and sites back."""
    division = unit.session.get(OrganizationDivision, filed.filing_code) or OrganizationDivision(
        filing_code=filed.filing_code
    )
    division.selected_by = filed.selected_by
    if division.details is None:
        division.region = filed.region
    else:
        unit.session.flush()  # the replica the filing has just written
        replica = unit.session.get(FiledOrganization, filed.filing_code)
        if replica is not None:
            replicas.apply_details(replica, OrganizationDetailsChanged.model_validate(division.details))
            unit.session.add(replica)
    unit.session.add(division)
    return division


def apply_details_change(
    *, unit: U, changed: OrganizationDetailsChanged, effective_on: date, occurred_at: datetime
) -> bool:
    """An approved change of information or sites [L11; S附件3] replaces the replica's name and sites and the
    organization's registered division: the latest by effective order wins (changes are approved in any order of
    their ids), an older one or the same one delivered again changes nothing. False when it changed nothing."""
    order = rules.effective_order(effective_on=effective_on, occurred_at=occurred_at, change_id=changed.change_id)
    division = unit.session.get(OrganizationDivision, changed.filing_code)
    if division is not None and division.details_order is not None and division.details_order >= order:
        return False
    replica = unit.session.get(FiledOrganization, changed.filing_code)
    if replica is None:
        raise EventTooEarly(f"{changed.filing_code} details change arrived before its filing")
    replicas.apply_details(replica, changed)
    unit.session.add(replica)
    division = division or OrganizationDivision(filing_code=changed.filing_code)
    division.region = changed.region or division.region
    division.details = changed.model_dump(mode="json")
    division.details_order = order
    unit.session.add(division)
    return True


def keep_batch(*, unit: U, plan: BatchPlanApproved, approved_on: date) -> PlannedBatch:
    """An approved batch plan enters the population; its staff and site are checked at once."""
    batch = _keep(unit, PlannedBatch, {**plan.model_dump(), "approved_on": approved_on})
    unit.session.flush()
    anomalies = [rules.capacity_anomaly(candidates=batch.candidates, capacity=batch.site_capacity)]
    overlapping = unit.session.exec(
        select(PlannedBatch).where(
            PlannedBatch.batch_id != batch.batch_id,
            PlannedBatch.exam_starts_on <= batch.exam_ends_on,
            PlannedBatch.exam_ends_on >= batch.exam_starts_on,
        )
    )
    anomalies += rules.double_bookings(batch, list(overlapping))
    for anomaly in anomalies:
        if anomaly is not None:
            _raise_alert(unit, anomaly, batch.batch_id, batch.organization_code)
    return batch


def keep_results(*, unit: U, results: BatchResultsPublished) -> None:
    """Published results: kept for the norms, and checked against them [L27 在线督导]. A batch counts once: the
    corrected results of a later publicity round [G三(五)] replace the earlier round's, an earlier round
    delivered late changes nothing."""
    kept = unit.session.get(PublishedResults, results.batch_id)
    if kept is not None and kept.round > results.round:
        return
    history = unit.session.exec(
        select(PublishedResults.sat, PublishedResults.passed).where(
            PublishedResults.occupation_code == results.occupation_code,
            PublishedResults.level == results.level,
            PublishedResults.batch_id != results.batch_id,
        )
    ).all()
    for anomaly in rules.result_anomalies(results, [(s, p) for s, p in history], unit.policy.supervision.monitoring):
        _raise_alert(unit, anomaly, results.batch_id, results.organization_code)
    _keep(unit, PublishedResults, results.model_dump(include=set(PublishedResults.model_fields)))


def _raise_alert(unit: U, anomaly: rules.Anomaly, batch_id: str, organization_code: str) -> None:
    known = unit.session.exec(
        select(Alert.id).where(Alert.rule == anomaly.rule, Alert.batch_id == batch_id, Alert.key == anomaly.key)
    ).first()
    if known is None:
        unit.session.add(
            Alert(
                rule=anomaly.rule,
                batch_id=batch_id,
                key=anomaly.key,
                organization_code=organization_code,
                detail=anomaly.detail,
                article=anomaly.article,
                raised_on=unit.today,
            )
        )


Timing = Literal["upcoming", "running", "past"]


def planned_batches(
    *,
    unit: U,
    when: Timing | None,
    city: str | None,
    occupation: str | None,
    organization: str | None,
    new_site: bool | None,
    skip: int,
    limit: int,
) -> tuple[list[PlannedBatchPublic], int]:
    statement = select(PlannedBatch)
    today = unit.today
    if when == "upcoming":
        statement = statement.where(PlannedBatch.exam_starts_on > today)
    elif when == "running":
        statement = statement.where(PlannedBatch.exam_starts_on <= today, PlannedBatch.exam_ends_on >= today)
    elif when == "past":
        statement = statement.where(PlannedBatch.exam_ends_on < today)
    if city:
        statement = statement.where(PlannedBatch.site_city == city)
    if occupation:
        statement = statement.where(
            or_(col(PlannedBatch.occupation_code) == occupation, col(PlannedBatch.occupation_name).contains(occupation))
        )
    if organization:
        statement = statement.where(PlannedBatch.organization_code == organization)
    if new_site is not None:
        statement = statement.where(PlannedBatch.new_site == new_site)
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(
        statement.order_by(col(PlannedBatch.exam_starts_on), col(PlannedBatch.batch_id)).offset(skip).limit(limit)
    )
    return [batch_public(b) for b in rows], int(count)


def get_batch(*, unit: U, batch_id: str) -> PlannedBatch:
    return _found(unit, PlannedBatch, batch_id, f"no approved batch {batch_id} in this province")


def batch_public(batch: PlannedBatch) -> PlannedBatchPublic:
    staff = [
        StaffMemberPublic(name=s["name"], role=s["role"], id_number=mask_id_number(s["id_number"])) for s in batch.staff
    ]
    return PlannedBatchPublic.model_validate({**batch.model_dump(), "staff": staff})


def inspectable_organizations(
    *, unit: U, city: str | None = None, occupation: str | None = None, q: str | None = None, skip: int, limit: int
) -> tuple[list[InspectableOrganizationPublic], int]:
    """Filed organizations of this province, by filing code, and how many there are."""
    statement = select(FiledOrganization).order_by(col(FiledOrganization.filing_code))
    if city:
        statement = statement.where(FiledOrganization.city == city)
    if q:
        statement = statement.where(
            or_(col(FiledOrganization.name).contains(q), col(FiledOrganization.filing_code).contains(q))
        )
    found = [
        o
        for o in unit.session.exec(statement)
        if not occupation or any(item.occupation_code == occupation for item in o.scope_items())
    ]
    data = [
        InspectableOrganizationPublic(
            filing_code=o.filing_code,
            name=o.name,
            city=o.city,
            status=o.status,
            scope=o.scope_items(),
            valid_until=o.valid_until.isoformat(),
        )
        for o in found[skip : skip + limit]
    ]
    return data, len(found)


# --- plans and draws (双随机) [L27] ---------------------------------------------------------------------


def publish_plan(*, unit: U, plan_in: PlanCreate, actor: Actor) -> InspectionPlan:
    """Freezes the population and the inspector pool, hashes them and publishes the plan."""
    policy = unit.policy.supervision
    errors = rules.plan_errors(plan_in, today=unit.today, province=unit.province)
    if errors:
        raise FieldErrors(errors)
    # The id first: its counter row queues two officials publishing at once, so the check below sees both.
    plan_id = _next_id(unit, "P")
    purpose = plan_in.purpose
    panel = purpose != "inspection"
    population = plan_in.population
    if plan_in.application is not None and purpose == "technical_assessment":
        population = population.model_copy(
            update={"target_kind": "application", "subject": f"application-{plan_in.application.application_id}"}
        )
    terms = PlanTerms(
        plan_id=plan_id,
        province=unit.province,
        title=plan_in.title,
        purpose=purpose,
        period_from=plan_in.period_from,
        period_to=plan_in.period_to,
        population=population,
        sample_size=1 if panel else plan_in.sample_size,
        sample_percent=None if panel or plan_in.sample_size else plan_in.sample_percent or policy.sample_percent,
        inspectors_per_target=plan_in.inspectors_per_target or policy.inspectors_per_target,
        max_targets_per_inspector=plan_in.max_targets_per_inspector or policy.max_targets_per_inspector,
        inspector_kinds=plan_in.inspector_kinds,
        include_partner_experts=plan_in.include_partner_experts,
        rotation_window_days=policy.rotation_window_days,
        entropy_source=plan_in.entropy_source,
        entropy_numbers=plan_in.entropy_numbers,
        entropy_expected_on=plan_in.entropy_expected_on,
        published_on=unit.today,
        published_by=actor.subject,
    )
    targets = _targets(unit, terms, plan_in)
    _ensure_no_rival(unit, terms, targets)
    inspectors = _inspectors(unit, terms)
    errors = []
    if not targets:
        errors.append(FieldError("population", "no target matches this population filter: nothing to draw from"))
    if not inspectors:
        errors.append(
            FieldError(
                "inspector_kinds", f"no active expert of the kinds {', '.join(terms.inspector_kinds)} in the pool"
            )
        )
    if errors:
        raise FieldErrors(errors)
    document = InspectionPlanPublished(
        terms=terms,
        targets=targets,
        inspectors=inspectors,
        plan_hash=draw.plan_hash(terms),
        snapshot_hash=draw.snapshot_hash(targets, inspectors),
    )
    plan = InspectionPlan(
        id=plan_id,
        title=terms.title,
        purpose=purpose,
        subject=population.subject if panel else None,
        document=document.model_dump(mode="json"),
        plan_hash=document.plan_hash,
        snapshot_hash=document.snapshot_hash,
        entropy_expected_on=terms.entropy_expected_on,
        published_on=unit.today,
        published_by=actor.subject,
    )
    unit.session.add(plan)
    unit.session.flush()
    unit.emit(INSPECTION_PLAN_PUBLISHED, subject=plan_id, payload=document)
    return plan


def _ensure_no_rival(unit: U, terms: PlanTerms, targets: list[DrawTarget]) -> None:
    """One plan per panel (a new one only to correct whom it avoids), and no second inspection plan over a
    period while one waits for its value: else an official could publish several and draw the one they like."""
    if terms.purpose != "inspection":
        avoided = {t.organization_code for t in targets}
        for rival in unit.session.exec(
            select(InspectionPlan).where(InspectionPlan.subject == terms.population.subject)
        ):
            if {t["organization_code"] for t in rival.document["targets"]} == avoided:
                raise Conflict(
                    f"plan {rival.id} already draws the {terms.purpose} panel of {terms.population.subject}; a "
                    "refusal there redraws a member"
                )
        return
    waiting = unit.session.exec(
        select(InspectionPlan).where(
            InspectionPlan.purpose == "inspection", InspectionPlan.status == PlanStatus.PUBLISHED
        )
    )
    for rival_plan in waiting:
        rival_terms = rival_plan.document["terms"]
        if (
            rival_terms["period_from"] <= terms.period_to.isoformat()
            and terms.period_from.isoformat() <= rival_terms["period_to"]
        ):
            raise Conflict(
                f"plan {rival_plan.id} over {rival_terms['period_from']} to {rival_terms['period_to']} waits for "
                f"its public value ({rival_plan.entropy_expected_on}); draw it before publishing another for "
                "the same period"
            )


def _targets(unit: U, terms: PlanTerms, plan_in: PlanCreate) -> list[DrawTarget]:
    population = terms.population
    if plan_in.application is not None and terms.purpose == "technical_assessment":
        application = plan_in.application
        return [
            DrawTarget(
                target_id=f"application-{application.application_id}",
                kind="application",
                organization_code=application.organization_credit_code,
                organization_credit_code=application.organization_credit_code,
                organization_name=application.organization_name,
                city=application.city,
                occupation_code=application.occupation_code,
                level=application.level,
                starts_on=terms.period_from,
            )
        ]
    credit = {row.filing_code: row.credit_code for row in unit.session.exec(select(OrganizationCredit))}
    weights = _draw_weights(unit)
    unrated = unit.policy.supervision.rating.unrated_draw_weight
    # Whose each organization is: the division that selected it and that of its registered address.
    homes = {d.filing_code: (d.selected_by, d.region) for d in unit.session.exec(select(OrganizationDivision))}
    if population.target_kind == "organization":
        organizations = unit.session.exec(
            select(FiledOrganization)
            .where(FiledOrganization.status == "filed")
            .order_by(col(FiledOrganization.filing_code))
        )
        return [
            DrawTarget(
                target_id=o.filing_code,
                kind="organization",
                organization_code=o.filing_code,
                organization_credit_code=credit.get(o.filing_code),
                organization_name=o.name,
                city=o.city,
                weight=weights.get(o.filing_code, unrated),
            )
            for o in organizations
            if (
                not population.cities
                or rules.in_areas(population.cities, regions=homes.get(o.filing_code, ()), city=o.city)
            )
            and (not population.organization_codes or o.filing_code in population.organization_codes)
            and (
                not population.occupation_codes
                or any(item.occupation_code in population.occupation_codes for item in o.scope_items())
            )
        ]
    statement = select(PlannedBatch).order_by(col(PlannedBatch.batch_id))
    if population.subject:
        statement = statement.where(PlannedBatch.batch_id == population.subject)
    else:
        statement = statement.where(
            PlannedBatch.exam_ends_on >= terms.period_from, PlannedBatch.exam_starts_on <= terms.period_to
        )
    # A batch at a new exam site is under both divisions [G四(二); Z四(一)]: the site's and the organization's.
    home_city = {o.filing_code: o.city for o in unit.session.exec(select(FiledOrganization))}
    return [
        _batch_target(b, credit.get(b.organization_code), weights.get(b.organization_code, unrated))
        for b in unit.session.exec(statement)
        if (
            not population.cities
            or rules.batch_in_areas(
                population.cities,
                b,
                home_regions=homes.get(b.organization_code, ()),
                home_city=home_city.get(b.organization_code),
            )
        )
        and (not population.occupation_codes or b.occupation_code in population.occupation_codes)
        and (not population.organization_codes or b.organization_code in population.organization_codes)
        and (not population.new_site_only or b.new_site)
    ]


def _batch_target(batch: PlannedBatch, credit_code: str | None, weight: int = 1) -> DrawTarget:
    return DrawTarget(
        target_id=batch.batch_id,
        kind="batch",
        organization_code=batch.organization_code,
        organization_credit_code=credit_code,
        organization_name=batch.organization_name,
        city=batch.site_city,
        occupation_code=batch.occupation_code,
        level=batch.level,
        starts_on=batch.exam_starts_on,
        ends_on=batch.exam_ends_on,
        new_site=batch.new_site,
        weight=weight,
    )


def _inspectors(unit: U, terms: PlanTerms) -> list[DrawInspector]:
    """The active pool of the plan's kinds (and the partners' shared experts), with what avoidance needs."""
    kinds = set(terms.inspector_kinds)
    batches = list(unit.session.exec(select(PlannedBatch)))
    staff_of: dict[tuple[str, str], set[str]] = {}
    for batch in batches:
        for person in batch.staff:
            staff_of.setdefault((person["id_type"], person["id_number"]), set()).add(batch.organization_code)
    since = terms.published_on - timedelta(days=terms.rotation_window_days)
    inspected: dict[str, list[PastInspection]] = {}
    for inspection in unit.session.exec(select(Inspection).where(Inspection.opened_on >= since)):
        for member in inspection.inspectors:
            inspected.setdefault(member["expert_id"], []).append(
                PastInspection(
                    organization_code=inspection.organization_code, on=inspection.inspected_on or inspection.opened_on
                )
            )
    pool = []
    barred = _barred_people(unit)
    for expert in unit.session.exec(select(Expert).where(Expert.status == "active").order_by(col(Expert.id))):
        if not kinds & set(expert.kinds) or (expert.id_type, expert.id_number) in barred:
            continue
        ties = [TiedOrganization(organization_code=t["organization_code"], reason=DECLARED_TIE) for t in expert.ties]
        ties += [
            TiedOrganization(organization_code=code, reason=RECORDED_TIE)
            for code in sorted(staff_of.get((expert.id_type, expert.id_number), set()))
        ]
        for tie in expert.ties:
            if tie.get("relative_id_number"):
                relative = (tie.get("relative_id_type") or "居民身份证", tie["relative_id_number"])
                ties += [
                    TiedOrganization(organization_code=code, reason=RECORDED_TIE)
                    for code in sorted(staff_of.get(relative, set()))
                ]
        pool.append(
            DrawInspector(
                expert_id=expert.id,
                province=unit.province,
                kinds=sorted(kinds & set(expert.kinds)),
                employer_credit_code=expert.employer_credit_code,
                qualifications=[ExpertQualification.model_validate(q) for q in expert.qualifications],
                tied_organizations=_unique(ties),
                inspected=sorted(inspected.get(expert.id, []), key=lambda p: (p.on, p.organization_code)),
            )
        )
    partners = unit.policy.supervision.partner_provinces
    if terms.include_partner_experts and partners:
        statement = select(PartnerExpert).where(
            PartnerExpert.status == "active",
            col(PartnerExpert.shared).is_(True),
            col(PartnerExpert.province).in_(partners),
        )
        for partner in unit.session.exec(statement.order_by(col(PartnerExpert.expert_id))):
            if not kinds & set(partner.kinds):
                continue
            pool.append(
                DrawInspector(
                    expert_id=partner.expert_id,
                    province=partner.province,
                    kinds=sorted(kinds & set(partner.kinds)),
                    employer_credit_code=partner.employer_credit_code,
                    qualifications=[ExpertQualification.model_validate(q) for q in partner.qualifications],
                    tied_organizations=[
                        TiedOrganization(organization_code=code, reason=DECLARED_TIE)
                        for code in partner.tied_organizations
                    ],
                    inspected=sorted(inspected.get(partner.expert_id, []), key=lambda p: (p.on, p.organization_code)),
                )
            )
    return pool


def _named(unit: U, pool: Iterable[DrawInspector], expert_ids: Iterable[str]) -> list[DispatchedExpert]:
    """The drawn by name, in draw order: the published pool carries only ids, so only these are looked up."""
    province = {inspector.expert_id: inspector.province for inspector in pool}
    named = []
    for expert_id in expert_ids:
        row = unit.session.get(Expert, expert_id) or unit.session.get(PartnerExpert, expert_id)
        name = row.name if row is not None else expert_id
        named.append(DispatchedExpert(expert_id=expert_id, name=name, province=province[expert_id]))
    return named


def _unique(ties: Iterable[TiedOrganization]) -> list[TiedOrganization]:
    seen: dict[tuple[str, str], TiedOrganization] = {}
    for tie in ties:
        seen.setdefault((tie.organization_code, tie.reason), tie)
    return sorted(seen.values(), key=lambda t: (t.organization_code, t.reason))


def _plan_for_update(unit: U, plan_id: str) -> InspectionPlan:
    return _found(unit, InspectionPlan, plan_id, f"no inspection plan {plan_id}", lock=True)


def get_plan(*, unit: U, plan_id: str) -> InspectionPlan:
    return _found(unit, InspectionPlan, plan_id, f"no inspection plan {plan_id}")


def make_draw(*, unit: U, plan_id: str, public_value: str, actor: Actor) -> InspectionPlan:
    """Enters the public value and draws: targets and their inspectors, every exclusion recorded."""
    plan = _plan_for_update(unit, plan_id)
    if plan.status is not PlanStatus.PUBLISHED:
        raise Conflict(f"plan {plan_id} was drawn on {plan.drawn_on} with {plan.public_value!r}; a draw is made once")
    document = InspectionPlanPublished.model_validate(plan.document)
    errors = rules.draw_errors(
        entropy_expected_on=plan.entropy_expected_on, entropy_source=document.terms.entropy_source, today=unit.today
    )
    wrong_value = draw.value_error(document.terms, public_value)
    if wrong_value:
        errors.append(FieldError("public_value", wrong_value))
    if errors:
        raise FieldErrors(errors)
    drawn = draw.draw(document, public_value)
    made = DrawMade(
        plan_id=plan.id,
        province=unit.province,
        algorithm=draw.ALGORITHM,
        plan_hash=plan.plan_hash,
        snapshot_hash=plan.snapshot_hash,
        public_value=public_value,
        seed=drawn.seed,
        drawn_on=unit.today,
        drawn_by=actor.subject,
        targets=drawn.targets,
        exclusions=drawn.exclusions,
    )
    plan.status = PlanStatus.DRAWN
    plan.public_value, plan.seed = public_value, drawn.seed
    plan.drawn_on, plan.drawn_by = unit.today, actor.subject
    plan.draw = made.model_dump(mode="json")
    unit.session.add(plan)
    targets = {t.target_id: t for t in document.targets}
    for drawn_target in drawn.targets:
        experts_ = _named(unit, document.inspectors, drawn_target.inspectors)
        if document.terms.purpose == "inspection":
            _open_inspection(unit, targets[drawn_target.target_id], experts_, plan_id=plan.id)
        else:
            _dispatch(unit, document, targets[drawn_target.target_id], experts_)
    unit.session.flush()
    unit.emit(DRAW_MADE, subject=plan.id, payload=made)
    return plan


def _dispatch(unit: U, document: InspectionPlanPublished, target: DrawTarget, experts_: list[DispatchedExpert]) -> None:
    purpose = document.terms.purpose
    assert purpose != "inspection"
    payload = ExpertsDispatched(
        plan_id=document.terms.plan_id,
        purpose=purpose,
        subject=target.target_id,
        organization_code=target.organization_code,
        experts=experts_,
    )
    unit.emit(EXPERTS_DISPATCHED, subject=target.target_id, payload=payload)


def _open_inspection(
    unit: U, target: DrawTarget, experts_: list[DispatchedExpert], *, plan_id: str | None, alert_id: int | None = None
) -> Inspection:
    inspection = Inspection(
        id=_next_id(unit, "I"),
        plan_id=plan_id,
        alert_id=alert_id,
        target_id=target.target_id,
        batch_id=target.target_id if target.kind == "batch" else None,
        organization_code=target.organization_code,
        organization_name=target.organization_name,
        inspectors=[e.model_dump() for e in experts_],
        opened_on=unit.today,
    )
    unit.session.add(inspection)
    return inspection


def refuse(*, unit: U, plan_id: str, refusal_in: RefusalCreate, principal: Principal) -> PlanRefusal:
    """A drawn inspector declines or is recused; the next eligible one in the same ranking replaces them."""
    plan = _plan_for_update(unit, plan_id)
    if plan.status is not PlanStatus.DRAWN or plan.draw is None:
        raise Conflict(f"plan {plan_id} is not drawn yet")
    document = InspectionPlanPublished.model_validate(plan.document)
    made = DrawMade.model_validate(plan.draw)
    _ensure_may_refuse(principal, refusal_in, made, document.terms.inspectors_per_target)
    inspection = None
    if document.terms.purpose == "inspection":
        inspection = unit.session.exec(
            select(Inspection).where(Inspection.plan_id == plan_id, Inspection.target_id == refusal_in.target_id)
        ).first()
        if inspection is not None and (
            inspection.status is not InspectionStatus.OPEN or _findings_of(unit, inspection.id)
        ):
            raise Conflict(f"inspection {inspection.id} has begun: an inspector can no longer be replaced")
    refusal = DrawRefusal(
        target_id=refusal_in.target_id,
        expert_id=refusal_in.expert_id,
        ground=refusal_in.ground,
        reason=refusal_in.reason,
        refused_on=unit.today,
        recorded_by=principal.subject,
    )
    try:
        again = draw.draw(document, made.public_value, [*made.refusals, refusal])
    except ValueError as error:
        raise FieldError("expert_id", str(error)) from error
    applied = again.refusals[-1]
    made = made.model_copy(
        update={"targets": again.targets, "exclusions": again.exclusions, "refusals": again.refusals}
    )
    plan.draw = made.model_dump(mode="json")
    unit.session.add(plan)
    row = PlanRefusal(
        plan_id=plan_id,
        target_id=refusal.target_id,
        expert_id=refusal.expert_id,
        ground=refusal.ground,
        reason=refusal.reason,
        refused_on=unit.today,
        recorded_by=principal.subject,
        replaced_by=applied.replaced_by,
    )
    unit.session.add(row)
    [target] = [t for t in again.targets if t.target_id == refusal.target_id]
    experts_ = _named(unit, document.inspectors, target.inspectors)
    if inspection is not None:
        inspection.inspectors = [e.model_dump() for e in experts_]
        unit.session.add(inspection)
    elif document.terms.purpose != "inspection":
        [drawn_target] = [t for t in document.targets if t.target_id == target.target_id]
        _dispatch(unit, document, drawn_target, experts_)
    unit.session.flush()
    unit.emit(DRAW_MADE, subject=plan_id, payload=made)
    return row


EXPERT_GROUNDS = ("declined", "unavailable", "conflict_of_interest")
OFFICIAL_GROUNDS = ("conflict_of_interest", "ineligible")


def _ensure_may_refuse(principal: Principal, refusal: RefusalCreate, made: DrawMade, per_target: int) -> None:
    """An expert declines only for themself; an official records only a recusal on a coded ground, and no
    more per target than the target has inspectors, so the ranking cannot be walked to someone chosen."""
    if principal.role is Role.PROVINCE_OFFICIAL:
        if refusal.ground not in OFFICIAL_GROUNDS:
            raise FieldError("ground", f"an official records a recusal: {' or '.join(OFFICIAL_GROUNDS)}")
        recorded = [r for r in made.refusals if r.target_id == refusal.target_id and r.ground in OFFICIAL_GROUNDS]
        if len(recorded) >= per_target:
            raise Conflict(
                f"{len(recorded)} recusals were recorded for {refusal.target_id} already: more need the experts' "
                "own declining"
            )
        return
    if principal.subject != refusal.expert_id:
        raise Forbidden("an expert declines only for themself; a province official records a recusal")
    if refusal.ground not in EXPERT_GROUNDS:
        raise FieldError("ground", f"an expert declines: {', '.join(EXPERT_GROUNDS)}")


def plans(*, unit: U, skip: int, limit: int) -> tuple[list[PlanPublic], int]:
    count = unit.session.exec(select(func.count()).select_from(InspectionPlan)).one()
    rows = unit.session.exec(select(InspectionPlan).order_by(col(InspectionPlan.id).desc()).offset(skip).limit(limit))
    return [plan_public(p) for p in rows], int(count)


def plan_public(plan: InspectionPlan) -> PlanPublic:
    document = plan.document
    return PlanPublic(
        id=plan.id,
        title=plan.title,
        purpose=plan.purpose,
        status=plan.status,
        plan_hash=plan.plan_hash,
        snapshot_hash=plan.snapshot_hash,
        entropy_expected_on=plan.entropy_expected_on,
        published_on=plan.published_on,
        published_by=plan.published_by,
        population=len(document["targets"]),
        inspectors=len(document["inspectors"]),
        public_value=plan.public_value,
        seed=plan.seed,
        drawn_on=plan.drawn_on,
        drawn=(plan.draw or {}).get("targets", []),
    )


def plan_documents(plan: InspectionPlan) -> PlanDocuments:
    return PlanDocuments(plan=plan.document, draw=plan.draw)


# --- inspections and findings [L27] ---------------------------------------------------------------------


def _inspection_for_update(unit: U, inspection_id: str) -> Inspection:
    return _found(unit, Inspection, inspection_id, f"no inspection {inspection_id}", lock=True)


def get_inspection(*, unit: U, inspection_id: str) -> Inspection:
    return _found(unit, Inspection, inspection_id, f"no inspection {inspection_id}")


def _inspector_ids(inspection: Inspection) -> list[str]:
    return [member["expert_id"] for member in inspection.inspectors]


def _ensure_inspector(inspection: Inspection, principal: Principal) -> None:
    if principal.role not in (Role.INSPECTOR, Role.EXPERT) or principal.subject not in _inspector_ids(inspection):
        raise Forbidden(
            f"{principal.subject} is not an inspector of {inspection.id}: {', '.join(_inspector_ids(inspection))} are"
        )


def _ensure_open(inspection: Inspection, what: str) -> None:
    if inspection.status is not InspectionStatus.OPEN:
        raise Conflict(f"inspection {inspection.id} is {inspection.status.value}: {what} is no longer possible")


def record_checks(*, unit: U, inspection_id: str, record: InspectionRecordUpdate, principal: Principal) -> Inspection:
    """What was checked on site and when: the plan against the site, the internal supervisors, the item list."""
    inspection = _inspection_for_update(unit, inspection_id)
    _ensure_inspector(inspection, principal)
    _ensure_open(inspection, "changing the record")
    errors = rules.item_errors(record.items_checked, unit.policy.supervision, "items_checked")
    if record.inspected_on > unit.today:
        errors.append(FieldError("inspected_on", f"{record.inspected_on} is in the future (today is {unit.today})"))
    if record.inspected_on < inspection.opened_on:
        errors.append(
            FieldError(
                "inspected_on",
                f"{record.inspected_on} is before the inspection was drawn or opened ({inspection.opened_on})",
            )
        )
    if errors:
        raise FieldErrors(errors)
    inspection.inspected_on = record.inspected_on
    inspection.items_checked = list(dict.fromkeys(record.items_checked))
    inspection.notes = record.notes
    unit.session.add(inspection)
    unit.session.flush()
    return inspection


def add_finding(*, unit: U, inspection_id: str, finding_in: FindingCreate, principal: Principal) -> Finding:
    inspection = _inspection_for_update(unit, inspection_id)
    _ensure_inspector(inspection, principal)
    _ensure_open(inspection, "adding a finding")
    return _add_finding(unit, inspection, finding_in, principal.subject)


def _add_finding(unit: U, inspection: Inspection, finding_in: FindingCreate, by: str) -> Finding:
    item = unit.policy.supervision.item(finding_in.item_code)
    if item is None:
        raise FieldError("item_code", f"{finding_in.item_code!r} is not on the province's item list (抽查事项清单)")
    finding = Finding(
        inspection_id=inspection.id,
        item_code=item.code,
        item_title=item.title,
        article=item.article,
        severity=finding_in.severity,
        description=finding_in.description,
        public_summary=finding_in.public_summary,
        evidence=list(finding_in.evidence),
        recorded_by=by,
    )
    unit.session.add(finding)
    unit.session.flush()
    return finding


def _findings_of(unit: U, inspection_id: str) -> list[Finding]:
    return list(
        unit.session.exec(select(Finding).where(Finding.inspection_id == inspection_id).order_by(col(Finding.id)))
    )


def _signatures_of(unit: U, inspection_id: str) -> list[Signature]:
    return list(
        unit.session.exec(select(Signature).where(Signature.inspection_id == inspection_id).order_by(col(Signature.id)))
    )


SITE_IN_CHARGE = "site_in_charge"


def sign(*, unit: U, inspection_id: str, principal: Principal) -> Inspection:
    """The drawn inspectors sign, then the site's person in charge; the last signature seals the record [L27].
    The first signature freezes it: the inspected party can neither stop findings nor sign before them."""
    inspection = _inspection_for_update(unit, inspection_id)
    if inspection.status is InspectionStatus.SEALED:
        raise Conflict(f"inspection {inspection.id} is sealed: every signature is on it")
    signatures = _signatures_of(unit, inspection.id)
    unsigned = [e for e in _inspector_ids(inspection) if e not in {s.signer for s in signatures}]
    if principal.role is Role.ORG_OPERATOR:
        if principal.organization != inspection.organization_code:
            raise Forbidden(f"the site's person in charge signs for {inspection.organization_code}")
        if unsigned:
            raise Conflict(f"the inspectors sign first; {', '.join(unsigned)} have not yet")
        return _add_signature(unit, inspection, signatures, SITE_IN_CHARGE, f"site_in_charge:{principal.subject}")
    _ensure_inspector(inspection, principal)
    if principal.subject not in unsigned:
        raise Conflict(f"{principal.subject} has already signed {inspection.id}")
    return _add_signature(unit, inspection, signatures, principal.subject, "inspector")


def record_site_refusal(*, unit: U, inspection_id: str, reason: str, principal: Principal) -> Inspection:
    """The site's person in charge will not sign: once every inspector has, one of them records the refusal
    with its reason in the site's place, and the record is sealed so (拒绝签字, noted on the record)."""
    inspection = _inspection_for_update(unit, inspection_id)
    _ensure_inspector(inspection, principal)
    signatures = _signatures_of(unit, inspection.id)
    signed = {s.signer for s in signatures}
    if inspection.status is InspectionStatus.SEALED or SITE_IN_CHARGE in signed:
        raise Conflict(f"inspection {inspection.id} is sealed already")
    unsigned = [e for e in _inspector_ids(inspection) if e not in signed]
    if unsigned:
        raise Conflict(f"every inspector signs before a refusal is recorded; {', '.join(unsigned)} have not yet")
    return _add_signature(
        unit, inspection, signatures, SITE_IN_CHARGE, f"refused to sign ({principal.subject}): {reason}"
    )


def _add_signature(unit: U, inspection: Inspection, signatures: list[Signature], signer: str, role: str) -> Inspection:
    if inspection.status is InspectionStatus.OPEN:
        if inspection.inspected_on is None or not inspection.items_checked:
            raise Conflict(f"inspection {inspection.id} has no record yet: write what was checked and when first")
        inspection.record_hash = record_hash(_recorded(unit, inspection, []).model_dump(mode="json"))
        inspection.status = InspectionStatus.SIGNING
    assert inspection.record_hash is not None
    signed_at = utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = signatures[-1].chain_hash if signatures else inspection.record_hash
    signature = Signature(
        inspection_id=inspection.id,
        signer=signer,
        role=role,
        signed_at=signed_at,
        record_hash=inspection.record_hash,
        chain_hash=chain_hash(previous, signer=signer, role=role, signed_at=signed_at, record=inspection.record_hash),
    )
    unit.session.add(signature)
    signatures = [*signatures, signature]
    unit.session.add(inspection)
    unit.session.flush()
    if SITE_IN_CHARGE in {s.signer for s in signatures}:  # the site signs (or refuses) last
        inspection.status = InspectionStatus.SEALED
        inspection.sealed_on = unit.today
        unit.session.add(inspection)
        unit.session.flush()
        unit.emit(INSPECTION_RECORDED, subject=inspection.id, payload=_recorded(unit, inspection, signatures))
    return inspection


def _recorded(unit: U, inspection: Inspection, signatures: list[Signature]) -> InspectionRecorded:
    """The record as published; before the seal (no signatures yet), the content the signatures cover."""
    assert inspection.inspected_on
    return InspectionRecorded(
        inspection_id=inspection.id,
        plan_id=inspection.plan_id,
        batch_id=inspection.batch_id,
        organization_code=inspection.organization_code,
        organization_name=inspection.organization_name,
        inspected_on=inspection.inspected_on,
        inspectors=[DispatchedExpert.model_validate(m) for m in inspection.inspectors],
        items_checked=inspection.items_checked,
        notes=inspection.notes,
        findings=[InspectionFinding.model_validate(f, from_attributes=True) for f in _findings_of(unit, inspection.id)],
        signatures=[InspectionSignature.model_validate(s, from_attributes=True) for s in signatures],
        record_hash=inspection.record_hash or "",
        sealed_on=inspection.sealed_on or unit.today,
    )


def inspection_public(*, unit: U, inspection: Inspection) -> InspectionPublic:
    signatures = _signatures_of(unit, inspection.id)
    signed = {s.signer for s in signatures}
    awaiting = [e for e in [*_inspector_ids(inspection), SITE_IN_CHARGE] if e not in signed]
    return InspectionPublic.model_validate(
        {
            **inspection.model_dump(),
            "findings": [
                FindingPublic.model_validate(f, from_attributes=True) for f in _findings_of(unit, inspection.id)
            ],
            "signatures": [InspectionSignature.model_validate(s, from_attributes=True) for s in signatures],
            "awaiting": awaiting,
        }
    )


def inspections(
    *,
    unit: U,
    organization: str | None,
    batch: str | None,
    plan: str | None,
    status: InspectionStatus | None,
    inspector: str | None,
    skip: int,
    limit: int,
) -> tuple[list[InspectionPublic], int]:
    statement = select(Inspection)
    if organization:
        statement = statement.where(Inspection.organization_code == organization)
    if batch:
        statement = statement.where(Inspection.batch_id == batch)
    if plan:
        statement = statement.where(Inspection.plan_id == plan)
    if status:
        statement = statement.where(Inspection.status == status)
    found = [
        i
        for i in unit.session.exec(statement.order_by(col(Inspection.id)))
        if not inspector or inspector in _inspector_ids(i)
    ]
    return [inspection_public(unit=unit, inspection=i) for i in found[skip : skip + limit]], len(found)


# --- online monitoring alerts -------------------------------------------------------------------------------


def alerts(
    *, unit: U, status: AlertStatus | None, batch: str | None, skip: int, limit: int
) -> tuple[list[AlertPublic], int]:
    statement = select(Alert)
    if status:
        statement = statement.where(Alert.status == status)
    if batch:
        statement = statement.where(Alert.batch_id == batch)
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(statement.order_by(col(Alert.id)).offset(skip).limit(limit))
    return [AlertPublic.model_validate(a, from_attributes=True) for a in rows], int(count)


def decide_alert(*, unit: U, alert_id: int, decision: AlertDecision, principal: Principal) -> Alert:
    """An alert becomes an inspection of its batch (an official sends the inspectors), a finding of an open one
    (by one of its inspectors or an official), or is dismissed with the reason."""
    actor = Actor.of(principal)
    official = principal.role is Role.PROVINCE_OFFICIAL
    if decision.action == "inspect" and not official:
        raise Forbidden("a province official sends inspectors; nobody sends themself")
    alert = _found(unit, Alert, alert_id, f"no alert {alert_id}", lock=True)
    if alert.status is not AlertStatus.OPEN:
        raise Conflict(f"alert {alert_id} was already decided ({alert.status.value}) on {alert.decided_on}")
    if decision.action == "inspect":
        inspection = _inspection_from_alert(unit, alert, decision)
        alert.status, alert.inspection_id = AlertStatus.INSPECTION, inspection.id
    elif decision.action == "finding":
        inspection = _open_inspection_of(unit, alert, decision)
        if not official:
            _ensure_inspector(inspection, principal)
        if decision.item_code is None:
            raise FieldError("item_code", "a finding falls under an item of the list")
        finding = FindingCreate(
            item_code=decision.item_code,
            severity=decision.severity,
            description=f"online monitoring: {alert.detail}. {decision.reason}",
            # The alert's detail may name staff: the public sees only what the rule found.
            public_summary=rules.ALERT_TITLES[alert.rule],
        )
        _add_finding(unit, inspection, finding, actor.subject)
        alert.status, alert.inspection_id = AlertStatus.FINDING, inspection.id
    else:
        alert.status = AlertStatus.DISMISSED
    alert.decided_by, alert.decided_on, alert.decision_reason = actor.subject, unit.today, decision.reason
    unit.session.add(alert)
    unit.session.flush()
    return alert


def _inspection_from_alert(unit: U, alert: Alert, decision: AlertDecision) -> Inspection:
    if not decision.inspectors:
        raise FieldError("inspectors", "name the inspectors sent (pool ids)")
    batch = get_batch(unit=unit, batch_id=alert.batch_id)
    credit = unit.session.get(OrganizationCredit, batch.organization_code)
    target = _batch_target(batch, credit.credit_code if credit else None)
    policy = unit.policy.supervision
    terms = PlanTerms(
        plan_id="alert",
        province=unit.province,
        title=f"alert {alert.id}",
        purpose="inspection",
        period_from=unit.today,
        period_to=unit.today,
        population=PopulationFilter(),
        sample_size=1,
        inspectors_per_target=len(decision.inspectors),
        max_targets_per_inspector=policy.max_targets_per_inspector,
        inspector_kinds=["examiner", "quality_supervisor", "judge", "expert"],
        include_partner_experts=True,
        rotation_window_days=policy.rotation_window_days,
        entropy_source="none: sent on an alert",
        entropy_numbers=1,
        entropy_expected_on=unit.today,
        published_on=unit.today,
        published_by="alert",
    )
    pool = {i.expert_id: i for i in _inspectors(unit, terms)}
    errors = []
    for index, expert_id in enumerate(decision.inspectors):
        inspector = pool.get(expert_id)
        if inspector is None:
            errors.append(FieldError(f"inspectors.{index}", f"{expert_id} is not an active expert of the pool"))
            continue
        reason = draw.exclusion_reason(terms, target, inspector)
        if reason:
            errors.append(FieldError(f"inspectors.{index}", f"{expert_id} may not inspect this batch: {reason}"))
    if errors:
        raise FieldErrors(errors)
    experts_ = _named(unit, pool.values(), dict.fromkeys(decision.inspectors))
    inspection = _open_inspection(unit, target, experts_, plan_id=None, alert_id=alert.id)
    unit.session.flush()
    return inspection


def _open_inspection_of(unit: U, alert: Alert, decision: AlertDecision) -> Inspection:
    if decision.inspection_id is None:
        raise FieldError("inspection_id", "name the open inspection of the batch the finding goes into")
    inspection = _inspection_for_update(unit, decision.inspection_id)
    if inspection.batch_id != alert.batch_id:
        raise FieldError("inspection_id", f"{inspection.id} is not an inspection of batch {alert.batch_id}")
    _ensure_open(inspection, "adding a finding")
    return inspection


# --- cases and measures [L28, G四(一), Z五(五)] ----------------------------------------------------------


def open_case(*, unit: U, case_in: CaseCreate, actor: Actor) -> Case:
    """A case about one filed organization, from a finding, an alert or the official's own decision; one case per
    finding or alert, so two officials opening it at once get one case and a 409."""
    case_id = _next_id(unit, "C")  # the counter row queues two officials opening one case
    if case_in.origin == "finding":
        if case_in.finding_id is None:
            raise FieldError("finding_id", "a case from a finding names the finding")
        finding = fetch(unit.session, Finding, case_in.finding_id, lock=False)
        if finding is None:  # a body naming nothing: the field at fault, as for an unknown organization
            raise FieldError("finding_id", f"no finding {case_in.finding_id}")
        inspection = get_inspection(unit=unit, inspection_id=finding.inspection_id)
        code, ref = inspection.organization_code, str(finding.id)
        summary = case_in.summary or f"{finding.item_title}: {finding.public_summary or finding.severity}"
        article = case_in.article or finding.article
    elif case_in.origin == "alert":
        if case_in.alert_id is None:
            raise FieldError("alert_id", "a case from an alert names the alert")
        alert = fetch(unit.session, Alert, case_in.alert_id, lock=False)
        if alert is None:
            raise FieldError("alert_id", f"no alert {case_in.alert_id}")
        code, ref = alert.organization_code, str(alert.id)
        summary, article = case_in.summary or alert.detail, case_in.article or alert.article
    else:
        if case_in.organization_code is None or case_in.summary is None:
            raise FieldErrors(
                [
                    FieldError(name, "the official's own case names the organization and what it is about")
                    for name, value in (("organization_code", case_in.organization_code), ("summary", case_in.summary))
                    if value is None
                ]
            )
        code, ref, summary = case_in.organization_code.upper(), case_id, case_in.summary
        article = case_in.article or "L28"
    return _open_case(unit, case_id, code, origin=case_in.origin, ref=ref, summary=summary, article=article, by=actor)


def _open_case(
    unit: U, case_id: str, organization_code: str, *, origin: str, ref: str, summary: str, article: str, by: Actor
) -> Case:
    organization = unit.session.get(FiledOrganization, organization_code)
    if organization is None:
        raise FieldError("organization_code", f"no filed organization {organization_code} is known here")
    known = unit.session.exec(select(Case.id).where(Case.origin == origin, Case.origin_ref == ref)).first()
    if known is not None:
        raise Conflict(f"{origin} {ref} already has case {known}")
    case = Case(
        id=case_id,
        organization_code=organization.filing_code,
        organization_name=organization.name,
        origin=origin,
        origin_ref=ref,
        summary=summary,
        article=article,
        opened_on=unit.today,
        opened_by=by.subject,
    )
    unit.session.add(case)
    unit.session.flush()
    _step(unit, case, "open", CaseStatus.OPEN, by, reason=summary, article=article)
    return case


def _step(
    unit: U,
    case: Case,
    action: str,
    to_status: CaseStatus,
    by: Actor,
    *,
    reason: str,
    measure: str | None = None,
    article: str | None = None,
) -> None:
    unit.session.add(
        CaseStep(
            case_id=case.id,
            action=action,
            from_status=None if action == "open" else case.status,
            to_status=to_status.value,
            measure=measure,
            reason=reason,
            article=article,
            rectify_by=case.rectify_by,
            decided_on=unit.today,
            decided_by=by.subject,
        )
    )
    case.status = to_status.value
    unit.session.add(case)


def _case_for_update(unit: U, case_id: str) -> Case:
    return _found(unit, Case, case_id, f"no case {case_id}", lock=True)


def get_case(*, unit: U, case_id: str) -> Case:
    return _found(unit, Case, case_id, f"no case {case_id}")


def _sanction(unit: U, case: Case, measure: str, reason: str, article: str, by: Actor) -> None:
    payload = SanctionImposed(
        filing_code=case.organization_code,
        measure=measure,
        reason=reason,
        decided_on=unit.today,
        rectify_by=case.rectify_by if measure in ("rectification", "suspension") else None,
        case_id=case.id,
        article=article,
        decided_by=by.subject,
    )
    unit.emit(SANCTION_IMPOSED, subject=case.organization_code, payload=payload)


def decide_measure(*, unit: U, case_id: str, decision: MeasureDecision, actor: Actor) -> Case:
    """The official's measure [L28]: rectification within working days, suspension until the rectification is
    verified, revocation of the qualification or removal from the catalogue (a serious credit entry follows),
    or none. Each but `no_measure` is a sanction-imposed event the registry applies."""
    case = _case_for_update(unit, case_id)
    cases = unit.policy.supervision.cases
    errors = rules.measure_errors(
        status=case.status,
        suspended=case.suspended,
        measure=decision.measure,
        working_days=decision.working_days,
        cases=cases,
    )
    if errors:
        raise FieldErrors(errors)
    measure = decision.measure
    if measure == "no_measure":
        case.closed_on = unit.today
        _step(unit, case, "close", CaseStatus.CLOSED, actor, reason=decision.reason, article=decision.article)
        return case
    if measure in ("rectification", "suspension"):
        case.rectify_by = add_working_days(unit.today, decision.working_days or cases.rectification_working_days)
        case.suspended = case.suspended or measure == "suspension"
        case.proposed_measure = None
        to_status = CaseStatus.RECTIFYING
    else:
        case.proposed_measure = None
        to_status = CaseStatus.FOLLOW_UP
    _step(unit, case, "decide", to_status, actor, reason=decision.reason, measure=measure, article=decision.article)
    _sanction(unit, case, measure, decision.reason, decision.article, actor)
    if measure in ("suspension", "revocation", "removal"):
        values = _organization_entry(
            unit,
            case.organization_code,
            severity="general" if measure == "suspension" else "serious",
            source="sanction",
            source_ref=case.id,
            reason=f"{measure}: {decision.reason}",
            article=decision.article,
        )
        _record_credit(unit, values, by=actor)
    unit.session.flush()
    return case


def file_rectification_report(
    *, unit: U, case_id: str, report_in: RectificationReportCreate, principal: Principal
) -> RectificationReport:
    """The organization files its rectification report with evidence, by the deadline."""
    case = _case_for_update(unit, case_id)
    if principal.organization != case.organization_code:
        raise Forbidden(f"only {case.organization_code}'s operators file its rectification report")
    if case.status != CaseStatus.RECTIFYING:
        raise Conflict(f"case {case.id} is {case.status}; a report is filed while a rectification is ordered")
    assert case.rectify_by is not None
    if unit.today > case.rectify_by:
        raise Conflict(f"the deadline was {case.rectify_by}: the case is overdue and the official decides next")
    report = RectificationReport(
        case_id=case.id,
        summary=report_in.summary,
        evidence=list(report_in.evidence),
        filed_on=unit.today,
        filed_by=principal.subject,
    )
    unit.session.add(report)
    _step(unit, case, "file_report", CaseStatus.REPORT_FILED, Actor.of(principal), reason=report_in.summary)
    unit.session.flush()
    return report


def verify_rectification(*, unit: U, case_id: str, verification: VerificationCreate, principal: Principal) -> Case:
    """An inspector (or the official) verifies the report on site or on paper. Accepted: the case closes and a
    suspension is lifted; not accepted: the rectification goes on (overdue if its deadline has passed)."""
    case = _case_for_update(unit, case_id)
    if case.status != CaseStatus.REPORT_FILED:
        raise Conflict(f"case {case.id} is {case.status}; a filed report is verified")
    report = unit.session.exec(
        select(RectificationReport)
        .where(RectificationReport.case_id == case.id, col(RectificationReport.verified_on).is_(None))
        .order_by(col(RectificationReport.id).desc())
    ).one()
    actor = Actor.of(principal)
    report.verified_on, report.verified_by = unit.today, actor.subject
    report.method, report.accepted, report.verification_notes = (
        verification.method,
        verification.accepted,
        verification.notes,
    )
    unit.session.add(report)
    reason = f"{verification.method.replace('_', ' ')}: {verification.notes}"
    if verification.accepted:
        if case.suspended:
            case.suspended = False
            _sanction(
                unit, case, "suspension_lifted", f"rectification verified: {verification.notes}", case.article, actor
            )
        case.closed_on = unit.today
        _step(unit, case, "verify", CaseStatus.CLOSED, actor, reason=reason)
    else:
        assert case.rectify_by is not None
        overdue = unit.today > case.rectify_by
        if overdue:
            case.proposed_measure = rules.proposed_measure(suspended=case.suspended)
        _step(
            unit, case, "reject_report", CaseStatus.OVERDUE if overdue else CaseStatus.RECTIFYING, actor, reason=reason
        )
    unit.session.flush()
    return case


def mark_overdue(*, unit: U) -> list[str]:
    """Rectifications whose deadline passed with no report: overdue, proposing the next measure [L28]."""
    due = unit.session.exec(
        select(Case).where(Case.status == CaseStatus.RECTIFYING.value, col(Case.rectify_by) < unit.today)
    ).all()
    for case in due:
        case.proposed_measure = rules.proposed_measure(suspended=case.suspended)
        _step(
            unit,
            case,
            "overdue",
            CaseStatus.OVERDUE,
            SYSTEM,
            reason=f"no verified rectification by {case.rectify_by}; proposed: {case.proposed_measure}",
        )
    unit.session.flush()
    return [case.id for case in due]


def hand_over_archive(*, unit: U, case_id: str, hand_over: ArchiveHandOver, actor: Actor) -> Case:
    """The revoked organization's archives are with the department: the follow-up is done, the case closes."""
    case = _case_for_update(unit, case_id)
    if case.status != CaseStatus.FOLLOW_UP:
        raise Conflict(f"case {case.id} is {case.status}; archives are handed over after revocation or removal")
    if hand_over.handed_over_on > unit.today:
        raise FieldError("handed_over_on", "the hand-over date cannot be in the future")
    case.archive_received_by, case.archive_handed_over_on = hand_over.received_by, hand_over.handed_over_on
    case.closed_on = unit.today
    _step(
        unit, case, "archive_handed_over", CaseStatus.CLOSED, actor, reason=f"{hand_over.received_by}: {hand_over.note}"
    )
    unit.session.flush()
    return case


def keep_withdrawn(*, unit: U, withdrawn: BatchWithdrawn) -> None:
    _keep(
        unit,
        WithdrawnBatch,
        withdrawn.model_dump(
            include={
                "batch_id",
                "organization_code",
                "action",
                "candidates",
                "to_organization_code",
                "new_batch_id",
                "decided_on",
            }
        ),
    )


def cases(
    *, unit: U, status: str | None, organization_code: str | None, skip: int, limit: int
) -> tuple[list[Case], int]:
    statement = select(Case)
    if status:
        statement = statement.where(Case.status == status)
    if organization_code:
        statement = statement.where(Case.organization_code == organization_code.upper())
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(statement.order_by(col(Case.id)).offset(skip).limit(limit)).all()
    return list(rows), count


def case_public(*, unit: U, case: Case) -> CasePublic:
    steps = unit.session.exec(select(CaseStep).where(CaseStep.case_id == case.id).order_by(col(CaseStep.id)))
    reports = unit.session.exec(
        select(RectificationReport).where(RectificationReport.case_id == case.id).order_by(col(RectificationReport.id))
    )
    withdrawn = unit.session.exec(
        select(WithdrawnBatch)
        .where(WithdrawnBatch.organization_code == case.organization_code, WithdrawnBatch.decided_on >= case.opened_on)
        .order_by(col(WithdrawnBatch.batch_id))
    )
    return CasePublic.model_validate(
        {
            **case.model_dump(),
            "steps": [s.model_dump() for s in steps],
            "reports": [r.model_dump() for r in reports],
            "withdrawn_batches": [w.model_dump() for w in withdrawn],
        }
    )


# --- the credit record (信用档案) [L6(一), G二(一)1, G四(一), Z五(五)] -------------------------------------


def record_credit(*, unit: U, entry_in: CreditEntryCreate, actor: Actor) -> CreditEntry:
    """An entry an official records from a finding or an upheld complaint, or imports from the platform."""
    filing_code = None
    if entry_in.credit_code is not None:
        filing_code = unit.session.exec(
            select(OrganizationCredit.filing_code).where(OrganizationCredit.credit_code == entry_in.credit_code)
        ).first()
    return _record_credit(unit, {**entry_in.model_dump(), "filing_code": filing_code}, by=actor)


def _record_credit(unit: U, values: dict[str, Any], *, by: Actor) -> CreditEntry:
    """Records an entry (`values` as CreditEntryCreate's, with its source and filing code) and sends it; one
    entry per source and subject, so two officials recording it at once get one entry and a 409."""
    credit = unit.policy.supervision.credit
    starts_on = values.get("starts_on") or unit.today
    years = credit.serious_years if values["severity"] == "serious" else credit.general_years
    ends_on = values.get("ends_on") or add_years(starts_on, years)
    if ends_on <= starts_on:
        raise FieldError("ends_on", f"ends {ends_on}, not after it starts {starts_on}")
    entry_id = _next_id(unit, "K")  # the counter row queues two officials recording one entry
    person = values["subject_kind"] == "person"
    subject = (
        CreditEntry.id_number == values.get("id_number")
        if person
        else CreditEntry.credit_code == values.get("credit_code")
    )
    known = unit.session.exec(
        select(CreditEntry.id).where(
            CreditEntry.source == values["source"], CreditEntry.source_ref == values["source_ref"], subject
        )
    ).first()
    if known is not None:
        raise Conflict(f"{values['source']} {values['source_ref']} is already on this subject's record as {known}")
    entry = CreditEntry.model_validate(
        {
            **values,
            "id": entry_id,
            "id_type": values.get("id_type") if person else None,
            "starts_on": starts_on,
            "ends_on": ends_on,
            "recorded_on": unit.today,
            "recorded_by": by.subject,
        }
    )
    unit.session.add(entry)
    unit.session.flush()
    _emit_credit(unit, entry)
    return entry


def _organization_entry(
    unit: U, filing_code: str, *, severity: str, source: str, source_ref: str, reason: str, article: str
) -> dict[str, Any]:
    organization = unit.session.get(FiledOrganization, filing_code)
    credit = unit.session.get(OrganizationCredit, filing_code)
    if organization is None or credit is None:
        raise FieldError("organization_code", f"no credit code is known for {filing_code}")
    return {
        "subject_kind": "organization",
        "name": organization.name,
        "credit_code": credit.credit_code,
        "filing_code": filing_code,
        "severity": severity,
        "source": source,
        "source_ref": source_ref,
        "reason": reason,
        "article": article,
    }


def _emit_credit(unit: U, entry: CreditEntry) -> None:
    payload = CreditEntryRecorded.model_validate(
        {**entry.model_dump(exclude={"id", "withdrawn_reason", "recorded_on", "recorded_by"}), "entry_id": entry.id}
    )
    unit.emit(CREDIT_ENTRY_RECORDED, subject=entry.id, payload=payload)


def import_credit(*, unit: U, batch: CreditImport, actor: Actor) -> list[CreditEntry]:
    """Entries from the provincial credit platform (信用浙江 and its peers), all or none."""
    errors = [
        FieldError(f"entries.{index}.source", "imported entries have source import")
        for index, entry in enumerate(batch.entries)
        if entry.source != "import"
    ]
    if errors:
        raise FieldErrors(errors)
    return [record_credit(unit=unit, entry_in=entry, actor=actor) for entry in batch.entries]


def withdraw_credit(*, unit: U, entry_id: str, withdrawal: WithdrawalCreate, actor: Actor) -> CreditEntry:
    """An entry recorded in error is withdrawn (it never counted); the withdrawal is sent like the entry."""
    entry = _found(unit, CreditEntry, entry_id, f"no credit entry {entry_id}", lock=True)
    if entry.withdrawn:
        raise Conflict(f"credit entry {entry_id} was already withdrawn: {entry.withdrawn_reason}")
    entry.withdrawn, entry.withdrawn_reason = True, f"{withdrawal.reason} ({actor.subject}, {unit.today})"
    unit.session.add(entry)
    unit.session.flush()
    _emit_credit(unit, entry)
    return entry


def _active_serious(unit: U, *, id_type: str | None = None, id_number: str | None = None) -> CreditEntry | None:
    return unit.session.exec(
        select(CreditEntry).where(
            CreditEntry.id_type == id_type,
            CreditEntry.id_number == id_number,
            CreditEntry.severity == "serious",
            _live(unit),
        )
    ).first()


def _live(unit: U) -> Any:
    """An entry that counts today: not withdrawn, started, not ended."""
    return and_(
        col(CreditEntry.withdrawn).is_(False),
        col(CreditEntry.starts_on) <= unit.today,
        col(CreditEntry.ends_on) > unit.today,
    )


def _barred_people(unit: U) -> set[tuple[str | None, str | None]]:
    """People with a serious entry active today: not drawn, as not registered [Z五(五)]."""
    rows = unit.session.exec(
        select(CreditEntry.id_type, CreditEntry.id_number).where(
            CreditEntry.subject_kind == "person",
            CreditEntry.severity == "serious",
            _live(unit),
        )
    )
    return {(id_type, id_number) for id_type, id_number in rows}


def credit_entries(
    *, unit: U, severity: str | None, active: bool | None, q: str | None, skip: int, limit: int
) -> tuple[list[CreditEntry], int]:
    statement = select(CreditEntry)
    if severity:
        statement = statement.where(CreditEntry.severity == severity)
    if active is not None:
        statement = statement.where(_live(unit) if active else ~_live(unit))
    if q:
        statement = statement.where(
            or_(col(CreditEntry.name).contains(q), col(CreditEntry.credit_code) == q, col(CreditEntry.filing_code) == q)
        )
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(statement.order_by(col(CreditEntry.id)).offset(skip).limit(limit)).all()
    return list(rows), count


def credit_public(*, unit: U, entry: CreditEntry, masked: bool = True) -> CreditEntryPublic:
    id_number = entry.id_number
    if id_number is not None and masked:
        id_number = mask_id_number(id_number)
    active = not entry.withdrawn and entry.starts_on <= unit.today < entry.ends_on
    return CreditEntryPublic.model_validate({**entry.model_dump(), "id_number": id_number, "active": active})


# The columns of the export for the provincial credit platform (docs/supervision.md describes each).
CREDIT_EXPORT_COLUMNS = (
    "entry_id",
    "subject_kind",
    "name",
    "credit_code",
    "id_type",
    "id_number",
    "severity",
    "reason",
    "article",
    "source",
    "source_ref",
    "starts_on",
    "ends_on",
    "department",
)


def credit_export(*, unit: U) -> Iterable[list[str]]:
    """The serious entries active today (严重失信), one row each, for 信用浙江 and its peers."""
    yield list(CREDIT_EXPORT_COLUMNS)
    rows = unit.session.exec(
        select(CreditEntry)
        .where(
            CreditEntry.severity == "serious",
            _live(unit),
        )
        .order_by(col(CreditEntry.id))
    )
    for entry in rows:
        values = {**entry.model_dump(mode="json"), "entry_id": entry.id, "department": unit.policy.department}
        yield ["" if values.get(column) is None else str(values[column]) for column in CREDIT_EXPORT_COLUMNS]


# --- star rating (星级评定) [Z五(五)] -----------------------------------------------------------------------


def keep_reported(*, unit: U, reported: BatchResultsReported) -> None:
    _keep(
        unit,
        ReportedResults,
        reported.model_dump(include={"batch_id", "organization_code", "reported_on", "late", "objections_upheld"}),
    )


def keep_correction(*, unit: U, corrected: BatchResultCorrected) -> None:
    _keep(
        unit,
        CorrectedResult,
        corrected.model_dump(include={"batch_id", "correction_id", "organization_code", "corrected_on"}),
    )


def _occurrences(unit: U, filing_code: str, year: int) -> dict[str, list[str]]:
    """What happened to the organization in the year, by indicator, as references anyone can look up."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    found: dict[str, list[str]] = {}
    findings = unit.session.exec(
        select(Finding.id, Finding.severity, Inspection.id)
        .join(Inspection, col(Inspection.id) == col(Finding.inspection_id))
        .where(
            Inspection.organization_code == filing_code,
            Inspection.status == InspectionStatus.SEALED,
            col(Inspection.sealed_on) >= first,
            col(Inspection.sealed_on) <= last,
        )
    )
    for finding_id, severity, inspection_id in findings:
        found.setdefault(f"finding_{severity}", []).append(f"{inspection_id}/finding-{finding_id}")
    # A tracking code shows its complaint to whoever holds it: the rating names each by its SHA-256 (the
    # complainant can find theirs), never by the code.
    found["complaint_upheld"] = [
        hashlib.sha256(code.encode()).hexdigest()[:16]
        for code in unit.session.exec(
            select(Complaint.tracking_code).where(
                Complaint.organization_code == filing_code,
                Complaint.outcome == "upheld",
                col(Complaint.closed_on) >= first,
                col(Complaint.closed_on) <= last,
            )
        )
    ]
    reported = unit.session.exec(
        select(ReportedResults).where(
            ReportedResults.organization_code == filing_code,
            ReportedResults.reported_on >= first,
            ReportedResults.reported_on <= last,
        )
    ).all()
    found["report_late"] = [r.batch_id for r in reported if r.late]
    found["objection_upheld"] = [f"{r.batch_id}/{n}" for r in reported for n in range(1, r.objections_upheld + 1)]
    found["correction_after_approval"] = [
        f"{batch_id}/correction-{correction_id}"
        for batch_id, correction_id in unit.session.exec(
            select(CorrectedResult.batch_id, CorrectedResult.correction_id).where(
                CorrectedResult.organization_code == filing_code,
                CorrectedResult.corrected_on >= first,
                CorrectedResult.corrected_on <= last,
            )
        )
    ]
    steps = unit.session.exec(
        select(CaseStep.case_id, CaseStep.action, CaseStep.measure)
        .join(Case, col(Case.id) == col(CaseStep.case_id))
        .where(Case.organization_code == filing_code, CaseStep.decided_on >= first, CaseStep.decided_on <= last)
    ).all()
    found["rectification_overdue"] = [case_id for case_id, action, _ in steps if action == "overdue"]
    found["suspension"] = [case_id for case_id, _, measure in steps if measure == "suspension"]
    found["pass_rate_alert"] = [
        str(alert_id)
        for alert_id in unit.session.exec(
            select(Alert.id).where(
                Alert.organization_code == filing_code,
                Alert.rule == AlertRule.PASS_RATE,
                Alert.status != AlertStatus.DISMISSED,
                Alert.raised_on >= first,
                Alert.raised_on <= last,
            )
        )
    ]
    return found


def rate_organizations(*, unit: U, run: RatingRun) -> list[OrganizationRated]:
    """Rates each filed organization (or those named) for the year, from what this service holds; a second run
    for the same year replaces the first. Each rating is published with its inputs [Z五(五) 星级评定]."""
    rating = unit.policy.supervision.rating
    statement = select(FiledOrganization).order_by(col(FiledOrganization.filing_code))
    if run.organization_codes:
        codes = [code.upper() for code in run.organization_codes]
        statement = statement.where(col(FiledOrganization.filing_code).in_(codes))
        known = {o.filing_code for o in unit.session.exec(statement)}
        unknown = [
            FieldError(f"organization_codes.{i}", f"no filed organization {c}")
            for i, c in enumerate(codes)
            if c not in known
        ]
        if unknown:
            raise FieldErrors(unknown)
    else:
        statement = statement.where(col(FiledOrganization.status).in_(("filed", "suspended")))
    rated = []
    for organization in unit.session.exec(statement).all():
        result = rules.rate(_occurrences(unit, organization.filing_code, run.year), rating)
        document = OrganizationRated(
            filing_code=organization.filing_code,
            organization_name=organization.name,
            year=run.year,
            stars=result.band.stars,
            score=result.score,
            draw_weight=result.band.draw_weight,
            indicators=result.indicators,
            rated_on=unit.today,
        )
        _keep(
            unit,
            OrganizationRating,
            {
                "filing_code": organization.filing_code,
                "year": run.year,
                "stars": document.stars,
                "score": document.score,
                "draw_weight": document.draw_weight,
                "document": document.model_dump(mode="json"),
                "rated_on": unit.today,
            },
        )
        unit.emit(ORGANIZATION_RATED, subject=organization.filing_code, payload=document)
        rated.append(document)
    unit.session.flush()
    return rated


def rate_last_year_once(*, unit: U) -> int:
    """The yearly rating: from January on, the past year is rated once (a run on demand counts too)."""
    year = unit.today.year - 1
    if unit.session.exec(select(OrganizationRating.filing_code).where(OrganizationRating.year == year)).first():
        return 0
    return len(rate_organizations(unit=unit, run=RatingRun(year=year)))


def ratings(*, unit: U, year: int | None, skip: int, limit: int) -> tuple[list[OrganizationRated], int]:
    statement = select(OrganizationRating)
    if year is not None:
        statement = statement.where(OrganizationRating.year == year)
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(
        statement.order_by(col(OrganizationRating.year).desc(), col(OrganizationRating.filing_code))
        .offset(skip)
        .limit(limit)
    )
    return [OrganizationRated.model_validate(row.document) for row in rows], count


def _draw_weights(unit: U) -> dict[str, int]:
    """Each organization's tickets in a draw: its latest rating's band [Z五(五)]; the unrated weigh the policy's."""
    weights: dict[str, tuple[int, int]] = {}
    for row in unit.session.exec(
        select(OrganizationRating.filing_code, OrganizationRating.year, OrganizationRating.draw_weight)
    ):
        code, year, weight = row
        if code not in weights or weights[code][0] < year:
            weights[code] = (year, weight)
    return {code: weight for code, (_, weight) in weights.items()}


# --- complaints and reports (投诉举报) [G四(一), L28] ------------------------------------------------------

TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U to misread


def _tracking_code(unit: U) -> str:
    """60 random bits: unguessable, so the code alone shows the complainant their complaint."""
    return f"{unit.province}-" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))


def receive_complaint(*, unit: U, complaint_in: ComplaintCreate) -> Complaint:
    """A complaint or report from anyone: routed to the department of the organization (and of a new exam site),
    with its deadlines in working days [G四(一)]."""
    complaints = unit.policy.supervision.complaints
    organization_code = (complaint_in.organization_code or "").upper() or None
    batch = None
    if complaint_in.about == "batch":
        batch = unit.session.get(PlannedBatch, complaint_in.reference.strip())
        organization_code = batch.organization_code if batch else organization_code
    elif complaint_in.about == "organization" and organization_code is None:
        organization_code = complaint_in.reference.strip().upper()
    organization = unit.session.get(FiledOrganization, organization_code) if organization_code else None
    routed_to: list[dict[str, Any]] = [{"department": unit.policy.department, "why": "the province's department"}]
    if organization is not None and organization.city:
        routed_to.append({"department": f"{organization.city} 人力资源和社会保障局", "why": "the organization's city"})
    if batch is not None and batch.new_site and batch.site_city != (organization.city if organization else None):
        routed_to.append(
            {"department": f"{batch.site_city} 人力资源和社会保障局", "why": "the new exam site's city [G四(二)]"}
        )
    contact = complaint_in.contact
    complaint = Complaint(
        tracking_code=_tracking_code(unit),
        about=complaint_in.about,
        reference=complaint_in.reference.strip(),
        organization_code=organization.filing_code if organization else None,
        organization_name=organization.name if organization else None,
        batch_id=batch.batch_id if batch else None,
        text=complaint_in.text,
        anonymous=complaint_in.anonymous,
        contact_name=contact.name if contact else None,
        contact_phone=contact.phone if contact else None,
        contact_email=contact.email if contact else None,
        attachments=list(complaint_in.attachments),
        routed_to=routed_to,
        received_on=unit.today,
        acknowledge_by=add_working_days(unit.today, complaints.acknowledge_working_days),
        handle_by=add_working_days(unit.today, complaints.handle_working_days),
    )
    unit.session.add(complaint)
    unit.session.flush()
    return complaint


def get_complaint(*, unit: U, tracking_code: str) -> Complaint:
    return _found(unit, Complaint, tracking_code, f"no complaint {tracking_code}")


def _complaint_for_update(unit: U, tracking_code: str) -> Complaint:
    return _found(unit, Complaint, tracking_code, f"no complaint {tracking_code}", lock=True)


def acknowledge_complaint(*, unit: U, tracking_code: str, actor: Actor) -> Complaint:
    complaint = _complaint_for_update(unit, tracking_code)
    if complaint.status != ComplaintStatus.RECEIVED:
        raise Conflict(f"complaint {tracking_code} was already acknowledged on {complaint.acknowledged_on}")
    complaint.status = ComplaintStatus.ACKNOWLEDGED.value
    complaint.acknowledged_on, complaint.acknowledged_by = unit.today, actor.subject
    unit.session.add(complaint)
    unit.session.flush()
    return complaint


def add_complaint_note(*, unit: U, tracking_code: str, note_in: ComplaintNoteCreate, actor: Actor) -> Complaint:
    """The investigation record: each note by whom and when; the first one starts the investigation."""
    complaint = _complaint_for_update(unit, tracking_code)
    if complaint.status not in (ComplaintStatus.ACKNOWLEDGED, ComplaintStatus.INVESTIGATING):
        raise Conflict(f"complaint {tracking_code} is {complaint.status}; notes are written once it is acknowledged")
    unit.session.add(
        ComplaintNote(
            tracking_code=complaint.tracking_code, note=note_in.note, written_on=unit.today, written_by=actor.subject
        )
    )
    complaint.status = ComplaintStatus.INVESTIGATING.value
    unit.session.add(complaint)
    unit.session.flush()
    return complaint


def close_complaint(*, unit: U, tracking_code: str, outcome: ComplaintOutcome, actor: Actor) -> Complaint:
    """Unfounded, or upheld: then perhaps a case, a credit entry on the organization, a revocation request."""
    complaint = _complaint_for_update(unit, tracking_code)
    if complaint.status != ComplaintStatus.INVESTIGATING:
        raise Conflict(f"complaint {tracking_code} is {complaint.status}; it is closed after its investigation")
    upheld = outcome.outcome == "upheld"
    errors = []
    if not upheld and (outcome.open_case or outcome.credit_severity or outcome.revoke_certificate):
        errors.append(FieldError("outcome", "an unfounded complaint opens no case, credit entry or revocation"))
    if (outcome.open_case or outcome.credit_severity) and complaint.organization_code is None:
        errors.append(FieldError("open_case", "the complaint names no filed organization of this province"))
    if errors:
        raise FieldErrors(errors)
    if outcome.open_case and complaint.organization_code:
        case = _open_case(
            unit,
            _next_id(unit, "C"),
            complaint.organization_code,
            origin=CaseOrigin.COMPLAINT.value,
            ref=complaint.tracking_code,
            summary=f"upheld complaint about {complaint.about} {complaint.reference}",
            article=outcome.article,
            by=actor,
        )
        complaint.case_id = case.id
    if outcome.credit_severity and complaint.organization_code:
        values = _organization_entry(
            unit,
            complaint.organization_code,
            severity=outcome.credit_severity,
            source="complaint",
            source_ref=complaint.tracking_code,
            reason=f"upheld complaint: {outcome.reply}",
            article=outcome.article,
        )
        entry = _record_credit(unit, values, by=actor)
        complaint.credit_entry_id = entry.id
    complaint.certificate_revocation_requested = outcome.revoke_certificate
    complaint.status, complaint.outcome, complaint.reply = ComplaintStatus.CLOSED.value, outcome.outcome, outcome.reply
    complaint.closed_on, complaint.closed_by = unit.today, actor.subject
    unit.session.add(complaint)
    unit.session.flush()
    return complaint


def complaint_status(*, unit: U, complaint: Complaint) -> ComplaintStatusPublic:
    return ComplaintStatusPublic.model_validate({**complaint.model_dump(), "late": _late(unit, complaint)})


def _late(unit: U, complaint: Complaint) -> bool:
    return rules.complaint_late(
        today=unit.today,
        acknowledge_by=complaint.acknowledge_by,
        handle_by=complaint.handle_by,
        acknowledged_on=complaint.acknowledged_on,
        closed_on=complaint.closed_on,
    )


def complaint_public(*, unit: U, complaint: Complaint, with_contact: bool) -> ComplaintPublic:
    notes = unit.session.exec(
        select(ComplaintNote)
        .where(ComplaintNote.tracking_code == complaint.tracking_code)
        .order_by(col(ComplaintNote.id))
    )
    contact = None
    if with_contact and not complaint.anonymous:
        contact = ComplaintContact(
            name=complaint.contact_name, phone=complaint.contact_phone, email=complaint.contact_email
        )
    return ComplaintPublic.model_validate(
        {
            **complaint.model_dump(),
            "late": _late(unit, complaint),
            "contact": contact,
            "notes": [n.model_dump() for n in notes],
        }
    )


def complaints(
    *, unit: U, status: str | None, late: bool | None, organization_code: str | None, skip: int, limit: int
) -> tuple[list[Complaint], int]:
    statement = select(Complaint)
    if status:
        statement = statement.where(Complaint.status == status)
    if organization_code:
        statement = statement.where(Complaint.organization_code == organization_code.upper())
    found = list(unit.session.exec(statement.order_by(col(Complaint.received_on), col(Complaint.tracking_code))))
    if late is not None:
        found = [c for c in found if _late(unit, c) is late]
    return found[skip : skip + limit], len(found)
