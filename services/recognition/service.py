"""Recognition: a batch from its plan through results, publicity, report, review and the province's re-check.

Keyword-only functions over a unit of work (shared.platform.unit): they flush and emit, and the edge that made
the unit commits. The rules are in rules.py. Every state change goes through `_transition`, which checks it is
allowed and writes the audit row in the same transaction as the change.
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import func, insert, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from shared.kernel.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound
from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    BatchHeading,
    BatchPlanApproved,
    BatchResultCorrected,
    BatchResultsApproved,
    BatchResultsPublished,
    BatchResultsReported,
    BatchStaffMember,
    BatchWithdrawn,
    ComponentDistribution,
    CreditEntryRecorded,
    ExpertsDispatched,
    InspectionRecorded,
    OrganizationDetailsChanged,
    OrganizationFiled,
    PassedCandidate,
    RepeatedScores,
    ScopeItem,
    ScoreComponent,
)
from shared.kernel.identity import RESIDENT_ID_CARD, normal_id_number
from shared.kernel.regions import RegionLevel, province_region, region_level, region_name
from shared.kernel.workdays import add_working_days, publicity_end
from shared.kernel.workflow import ObjectionResolution, check_cleared, check_within_publicity, next_status, resolve
from shared.platform import replicas
from shared.platform.auth import Actor
from shared.platform.bus import EventTooEarly
from shared.platform.db import fetch, upsert
from shared.platform.errors import NUL_REASON, nul_fields
from shared.platform.replicas import FiledOrganization
from shared.platform.unit import Unit

from . import rules
from .models import (
    ACTIVE,
    UNFINISHED,
    Batch,
    BatchCreate,
    BatchInspection,
    BatchPanel,
    BatchPublic,
    BatchReviewer,
    BatchStaff,
    BatchStatus,
    BatchTransition,
    Candidate,
    CandidateCreate,
    CorrectionCreate,
    ExamSite,
    ExpertPublic,
    FollowUpBatch,
    FollowUpPublic,
    HandOverCreate,
    InspectionPublic,
    NewSiteBatch,
    NewSiteBatchesPublic,
    OrganizationAuthority,
    PanelPurpose,
    PersonCreditEntry,
    ResultCorrection,
    ResultObjection,
    ResultObjectionCreate,
    ReviewerPublic,
    ScoreCreate,
    StaffCreate,
    StaffPublic,
    StaffRole,
    TransitionPublic,
)
from .prior_certificates import Claim
from .settings import RecognitionSettings

S = BatchStatus

# Which action moves which state where. Anything else is refused with 409 and the reason.
ALLOWED: dict[str, tuple[tuple[BatchStatus, ...], BatchStatus]] = {
    "submit": ((S.DRAFT, S.RETURNED), S.SUBMITTED),
    "return_plan": ((S.SUBMITTED,), S.RETURNED),
    "approve_plan": ((S.SUBMITTED,), S.PLAN_APPROVED),
    "record_results": ((S.PLAN_APPROVED,), S.RESULTS_RECORDED),
    "publish_results": ((S.RESULTS_RECORDED,), S.RESULTS_IN_PUBLICITY),
    # Corrected results after an upheld objection, to be published again in a new round [G三(五)].
    "correct_results": ((S.RESULTS_IN_PUBLICITY,), S.RESULTS_RECORDED),
    "report": ((S.RESULTS_IN_PUBLICITY,), S.REPORTED),
    "pass_review": ((S.REPORTED,), S.REVIEWED),
    "return_results": ((S.REPORTED, S.REVIEWED), S.RESULTS_RECORDED),
    "approve_results": ((S.REVIEWED,), S.APPROVED),
    # A batch of a suspended or revoked organization, not approved: withdrawn by the department [L28].
    "cancel": (UNFINISHED, S.CANCELLED),
    "hand_over": (UNFINISHED, S.HANDED_OVER),
}
EDITABLE = (S.DRAFT, S.RETURNED)
MAX_CANDIDATES = 200_000
INSERT_CHUNK = 5_000
STREAM_ROWS = 5_000  # rows fetched at a time when a whole batch's scores are read
COMPONENTS: tuple[ScoreComponent, ...] = ("theory", "skill", "defence", "performance")
REPEATED_SCORES_SHOWN = 20
INSPECTION_ACTOR_ROLE = "inspector"


def _heading(batch: Batch) -> dict[str, Any]:
    """The fields every event about the batch opens with (shared.kernel.events.BatchHeading)."""
    return BatchHeading(
        batch_id=batch.id,
        organization_code=batch.organization_code,
        organization_name=batch.organization_name,
        occupation_code=batch.occupation_code,
        occupation_name=batch.occupation_name,
        work_type=batch.work_type,
        level=batch.level,
        method=batch.method.value,
    ).model_dump()


def _transition(
    unit: Unit[RecognitionSettings], batch: Batch, action: str, actor: Actor, reason: str | None = None
) -> None:
    target = next_status(ALLOWED, action, batch.status, f"batch {batch.id}")
    unit.session.add(
        BatchTransition(
            batch_id=batch.id,
            from_status=batch.status,
            to_status=target,
            action=action,
            reason=reason,
            actor=actor.subject,
            actor_role=actor.role,
        )
    )
    batch.status = target
    unit.session.add(batch)


# --- the plan ------------------------------------------------------------------------------------------


def create_batch(*, unit: Unit[RecognitionSettings], batch_in: BatchCreate, actor: Actor) -> Batch:
    """A draft plan, for a filed organization within its scope; candidates may come with it or be uploaded. The
    occupation's name and work type are the filed scope row's [L26, L附件8]. Every problem at once (422)."""
    organization = _organization(unit, batch_in.organization_code)
    scope_errors, row = _scope_errors(
        unit,
        organization,
        batch_in.occupation_code,
        batch_in.level,
        batch_in.site.city,
        work_type=batch_in.work_type,
        ends_on=batch_in.exam_ends_on,
    )
    new_site = _new_site(organization, batch_in.site)
    site = _site_with_region(organization, batch_in.site)
    errors = [
        *scope_errors,
        *rules.site_region_errors(site.region, province=organization.province, new_site=new_site),
        *rules.staff_declared_errors(batch_in.staff, unit.policy),
        *_credit_errors(unit, [person.id_number for person in batch_in.staff]),
    ]
    batch = Batch.model_validate(
        batch_in,
        update={
            "organization_name": organization.name,
            "occupation_name": row.occupation_name if row else (batch_in.occupation_name or ""),
            "work_type": row.work_type if row else batch_in.work_type,
            "created_by": actor.subject,
            "site": site.model_dump(),
            "site_region": site.region,
            "new_site": new_site,
        },
    )
    _start_draft(unit, batch, batch_in.staff, actor)
    seen: set[tuple[str, str]] = set()
    candidate_errors, _ = _add_candidates(
        unit,
        batch,
        enumerate(batch_in.candidates),
        seen,
        position=0,
        field=lambda i: f"candidates.{i}",
        staff_roles=_staff_roles(batch_in.staff),
        store=not errors,
    )
    errors += candidate_errors
    if errors:
        raise FieldErrors(errors)
    return batch


def _staff_roles(staff: Iterable[StaffCreate | BatchStaff]) -> dict[tuple[str, str], str]:
    return {(person.id_type, person.id_number): StaffRole(person.role).value for person in staff}


def _new_site(organization: FiledOrganization, site: ExamSite) -> bool:
    return not any(s.get("address") == site.address for s in organization.sites)


def _site_with_region(organization: FiledOrganization, site: ExamSite) -> ExamSite:
    """The site, its division taken from the filed site of the same address when the plan does not name it."""
    if site.region is not None:
        return site
    for filed in organization.sites:
        if filed.get("address") == site.address and filed.get("region"):
            return site.model_copy(update={"region": str(filed["region"])})
    return site


def _start_draft(
    unit: Unit[RecognitionSettings],
    batch: Batch,
    staff: Sequence[StaffCreate],
    actor: Actor,
    reason: str | None = None,
) -> None:
    """Stores a new draft with its first trail row and its staff."""
    unit.session.add(batch)
    unit.session.flush()
    unit.session.add(
        BatchTransition(
            batch_id=batch.id,
            from_status=None,
            to_status=S.DRAFT,
            action="create",
            reason=reason,
            actor=actor.subject,
            actor_role=actor.role,
        )
    )
    for person in staff:
        unit.session.add(BatchStaff(batch_id=batch.id, **person.model_dump()))


def _organization(unit: Unit[RecognitionSettings], code: str) -> FiledOrganization:
    organization = unit.session.get(FiledOrganization, code)
    if organization is None:
        raise FieldError("organization_code", f"no filed organization {code} is known here")
    return organization


def _scope_errors(
    unit: Unit[RecognitionSettings],
    organization: FiledOrganization,
    occupation_code: str,
    level: int,
    city: str,
    *,
    work_type: str | None,
    ends_on: date,
) -> tuple[list[FieldError], ScopeItem | None]:
    """The filing rules (standing, validity today and for the whole exam, occupation and level, region) and the
    filed scope row of the occupation and work type, or why the work type is not filed [L26, G四(二)]."""
    errors = rules.scope_errors(
        organization.filing(),
        evaluation_scope=organization.evaluation_scope,
        city_filed=organization.city,
        occupation_code=occupation_code,
        level=level,
        city=city,
        on=unit.today,
    )
    row, work_type_error = rules.scope_row(
        organization.scope_items(),
        filing_code=organization.filing_code,
        occupation_code=occupation_code,
        level=level,
        work_type=work_type,
    )
    if work_type_error is not None:
        errors.append(work_type_error)
    lapse = rules.filing_lapse_error(ends_on, organization.valid_until, organization.filing_code)
    if lapse is not None and not any(e.field == "organization_code" for e in errors):
        errors.append(lapse)
    return errors, row


def ensure_not_halted(*, unit: Unit[RecognitionSettings], batch: Batch) -> None:
    """409 when the batch is not approved and its organization is suspended or revoked, or its filing lapses
    before the exam ends [L28]."""
    organization = unit.session.get(FiledOrganization, batch.organization_code)
    reason = rules.halted_reason(
        batch, organization.status if organization else None, organization.valid_until if organization else None
    )
    if reason:
        raise Conflict(reason)


def _credit_errors(unit: Unit[RecognitionSettings], id_numbers: Sequence[str]) -> list[FieldError]:
    """Reads the serious, not withdrawn, credit entries of the staff's ID numbers for rules.credit_errors."""
    wanted = sorted(set(id_numbers))
    entries: dict[str, list[PersonCreditEntry]] = {}
    for start in range(0, len(wanted), INSERT_CHUNK):
        rows = unit.session.exec(
            select(PersonCreditEntry).where(
                col(PersonCreditEntry.id_number).in_(wanted[start : start + INSERT_CHUNK]),
                PersonCreditEntry.severity == "serious",
                col(PersonCreditEntry.withdrawn).is_(False),
            )
        )
        for entry in rows:
            entries.setdefault(entry.id_number, []).append(entry)
    return rules.credit_errors(id_numbers, entries, unit.today)


def _integrity_errors(unit: Unit[RecognitionSettings], batch: Batch) -> list[FieldError]:
    """Reads what rules.integrity_errors judges: the staff, the candidates they name, their other batches."""
    session = unit.session
    staff = staff_of(unit, batch.id)
    named = {n for person in staff for n in (*(person.trained or ()), *(person.related or ()))}
    names_by_id_number: dict[str, str] = {}
    named_list = sorted(named)
    for start in range(0, len(named_list), INSERT_CHUNK):  # bounded IN lists: SQLite caps bound parameters
        rows = session.exec(
            select(Candidate.id_number, Candidate.name).where(
                Candidate.batch_id == batch.id,
                col(Candidate.id_number).in_(named_list[start : start + INSERT_CHUNK]),
            )
        )
        names_by_id_number.update((id_number, name) for id_number, name in rows)
    elsewhere = {
        index: session.exec(
            select(Batch)
            .join(BatchStaff, col(BatchStaff.batch_id) == col(Batch.id))
            .where(
                BatchStaff.id_type == person.id_type,
                BatchStaff.id_number == person.id_number,
                Batch.id != batch.id,
                col(Batch.status).in_(ACTIVE),
                col(Batch.exam_starts_on) <= batch.exam_ends_on,
                col(Batch.exam_ends_on) >= batch.exam_starts_on,
            )
        ).all()
        for index, person in enumerate(staff)
    }
    return rules.integrity_errors(batch, staff, names_by_id_number, elsewhere)


def _add_candidates(
    unit: Unit[RecognitionSettings],
    batch: Batch,
    rows: Iterable[tuple[int, CandidateCreate | FieldError]],
    seen: set[tuple[str, str]],
    *,
    position: int,
    field: Any,
    staff_roles: dict[tuple[str, str], str],
    store: bool = True,
) -> tuple[list[FieldError], int]:
    """Inserts valid rows in chunks (unless `store` is false: only validating); returns every error (the caller
    rolls back if there is any) and the number of rows read. A candidate is none of the batch's staff, and
    declares no more years of work than since turning 16."""
    errors: list[FieldError] = []
    chunk: list[dict[str, Any]] = []
    read = 0
    for index, row in rows:
        read += 1
        if isinstance(row, FieldError):
            errors.append(row)
            continue
        key = (row.id_type, row.id_number)
        if key in seen:
            errors.append(FieldError(f"{field(index)}.id_number", f"{row.name} appears twice in the batch"))
            continue
        seen.add(key)
        serves = rules.staff_candidate_error(row.name, staff_roles, key)
        if serves:
            errors.append(FieldError(f"{field(index)}.id_number", serves))
        too_many = rules.years_of_work_error(
            name=row.name,
            id_type=row.id_type,
            id_number=row.id_number,
            birth_date=row.birth_date,
            years_of_work=row.years_of_work,
            today=unit.today,
        )
        if too_many:
            errors.append(FieldError(f"{field(index)}.years_of_work", too_many))
        if errors or not store:
            continue  # nothing will be stored: only keep validating
        chunk.append({**row.model_dump(), "id": str(uuid.uuid4()), "batch_id": batch.id, "position": position})
        position += 1
        if len(chunk) >= INSERT_CHUNK:
            unit.session.execute(insert(Candidate), chunk)
            chunk = []
    if chunk and not errors and store:
        unit.session.execute(insert(Candidate), chunk)
    if position > MAX_CANDIDATES:
        errors.append(FieldError("candidates", f"at most {MAX_CANDIDATES} candidates per batch"))
    return errors, read


def candidate_count(unit: Unit[RecognitionSettings], batch_id: str) -> int:
    return unit.session.exec(select(func.count()).select_from(Candidate).where(Candidate.batch_id == batch_id)).one()


def upload_candidates(
    *, unit: Unit[RecognitionSettings], batch: Batch, upload: IO[bytes], content_type: str
) -> tuple[int, int]:
    """Adds candidates from CSV (with a header row) or JSON lines, validated row by row: every bad row is
    reported (422) and then nothing is stored. Returns (rows read, rows stored)."""
    ensure_not_halted(unit=unit, batch=batch)
    if batch.status not in EDITABLE:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; candidates are added to a draft or returned plan")
    existing = unit.session.exec(select(Candidate.id_type, Candidate.id_number).where(Candidate.batch_id == batch.id))
    seen = {(id_type, id_number) for id_type, id_number in existing}
    start = len(seen)
    errors, read = _add_candidates(
        unit,
        batch,
        _parsed_rows(upload, content_type),
        seen,
        position=start,
        field=lambda line: f"line {line}",
        staff_roles=_staff_roles(staff_of(unit, batch.id)),
    )
    if errors:
        raise FieldErrors(errors)
    return read, len(seen) - start


CSV_COLUMNS = (
    "name",
    "id_type",
    "id_number",
    "photo_ref",
    "years_of_work",
    "prior_certificate_number",
    "competition_award",
    "completed_teaching_plan",
    "birth_date",
)


class _NotUtf8(Exception):
    def __init__(self, line: int, error: UnicodeDecodeError):
        super().__init__(f"line {line}")
        self.line = line
        self.error = error


def _decoded_lines(upload: IO[bytes]) -> Iterator[str]:
    """The upload's lines decoded one at a time (a BOM dropped), so a byte that is not UTF-8 names its line."""
    for number, raw in enumerate(upload, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise _NotUtf8(number, error) from error
        yield text.removeprefix("\ufeff") if number == 1 else text


def _unreadable(line: int, error: Exception) -> FieldError:
    if isinstance(error, _NotUtf8):
        bad = error.error.object[error.error.start : error.error.start + 1].hex()
        return FieldError(
            f"line {error.line}", f"not UTF-8: byte 0x{bad} at position {error.error.start + 1}; save the file as UTF-8"
        )
    limit = csv.field_size_limit()
    return FieldError(f"line {line}", f"unreadable CSV ({error}); no field may exceed {limit} characters")


def _parsed_rows(upload: IO[bytes], content_type: str) -> Iterator[tuple[int, CandidateCreate | FieldError]]:
    """(line number, candidate or the first error of that line), one line at a time. A file that cannot be read on
    (a byte that is not UTF-8, a CSV field over the csv module's limit) ends with the error of its line."""
    try:
        yield from _records(upload, content_type)
    except (_NotUtf8, csv.Error) as error:
        line = error.line if isinstance(error, _NotUtf8) else getattr(error, "line_num", 0)
        yield line, _unreadable(line, error)


def _records(upload: IO[bytes], content_type: str) -> Iterator[tuple[int, CandidateCreate | FieldError]]:
    text = _decoded_lines(upload)
    if content_type.startswith("text/csv"):
        reader = csv.DictReader(text)
        try:
            fieldnames = reader.fieldnames
        except csv.Error as error:
            error.line_num = reader.line_num  # type: ignore[attr-defined]
            raise
        unknown = set(fieldnames or ()) - set(CSV_COLUMNS)
        if not fieldnames or "name" not in fieldnames or unknown:
            raise FieldError(
                "line 1",
                f"the header must name columns among {', '.join(CSV_COLUMNS)}; unknown: "
                f"{', '.join(sorted(unknown)) or 'none'}",
            )
        records: Iterator[tuple[int, Any]] = _csv_rows(reader)
        records = ((line, {k: v for k, v in row.items() if v not in ("", None)}) for line, row in records)
    elif content_type.startswith(("application/x-ndjson", "application/jsonl", "application/json-lines")):
        records = ((line, _json_line(raw)) for line, raw in enumerate(text, start=1) if raw.strip())
    else:
        raise FieldError("content-type", "send text/csv or application/x-ndjson")
    for line, record in records:
        if isinstance(record, FieldError):
            yield line, FieldError(f"line {line}", record.reason)
            continue
        try:
            yield line, CandidateCreate.model_validate(record)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            yield line, FieldError(f"line {line}" + (f".{where}" if where else ""), first["msg"])


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, Any]]:
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as error:
        error.line_num = reader.line_num + 1  # type: ignore[attr-defined]  # the line it failed on
        raise


def _json_line(raw: str) -> Any:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as error:
        return FieldError("", f"not JSON: {error.msg}")
    except RecursionError:
        return FieldError("", "nested too deep: a candidate is one JSON object of plain fields")
    if fields := nul_fields(record):  # no text column takes one (PostgreSQL refuses it)
        return FieldError("", f"{', '.join(fields)} {NUL_REASON}")
    return record


def prior_certificate_claims(*, unit: Unit[RecognitionSettings], batch: Batch) -> list[Claim]:
    statement = select(Candidate).where(
        Candidate.batch_id == batch.id, col(Candidate.prior_certificate_number).is_not(None)
    )
    return [Claim(c.id, c.name, c.id_number, c.prior_certificate_number or "") for c in unit.session.exec(statement)]


def submit(
    *, unit: Unit[RecognitionSettings], batch: Batch, actor: Actor, prior: dict[str, rules.PriorCertificate]
) -> Batch:
    """Checks the whole plan against the replica, the policy and the integrity rules; 422 with every problem."""
    next_status(ALLOWED, "submit", batch.status, f"batch {batch.id}")  # a wrong state is 409 before any rule
    ensure_not_halted(unit=unit, batch=batch)
    organization = _organization(unit, batch.organization_code)
    candidates = unit.session.exec(
        select(Candidate).where(Candidate.batch_id == batch.id).order_by(col(Candidate.position))
    )
    scope_errors, _ = _scope_errors(
        unit,
        organization,
        batch.occupation_code,
        batch.level,
        batch.site["city"],
        work_type=batch.work_type,
        ends_on=batch.exam_ends_on,
    )
    errors = [
        *scope_errors,
        *rules.announcement_errors(batch, unit.policy, unit.today),
        *_integrity_errors(unit, batch),
        *_credit_errors(unit, [person.id_number for person in staff_of(unit, batch.id)]),
        *rules.eligibility_errors(batch, candidates, prior),
    ]
    if candidate_count(unit, batch.id) == 0:
        errors.append(FieldError("candidates", "the plan has no candidates"))
    if errors:
        raise FieldErrors(errors)
    reason = "new exam site: dual supervision [G四(二)]" if batch.new_site else None
    _transition(unit, batch, "submit", actor, reason)
    return batch


def decide_plan(
    *,
    unit: Unit[RecognitionSettings],
    batch: Batch,
    approve: bool,
    reason: str | None,
    actor: Actor,
    region: str,
) -> Batch:
    """The testing department of the organization's authority (the division that selected it, else the
    province) approves the plan (it may then run) or returns it with the reason [L20]; another division's
    department is refused (403). `region`: the deciding department's GB/T 2260 code."""
    authority = authority_of(unit, batch.organization_code)
    if region != authority:
        raise Forbidden(
            f"batch {batch.id} of {batch.organization_code} is decided by the testing department of {authority} "
            f"({region_name(authority) or authority}), the division that selected the organization, not of "
            f"{region} [L20]"
        )
    ensure_not_halted(unit=unit, batch=batch)
    if not approve:
        _transition(unit, batch, "return_plan", actor, reason)
        return batch
    if unit.today > batch.exam_starts_on:
        raise Conflict(
            f"batch {batch.id} was to start {batch.exam_starts_on}: nothing runs unapproved; return it "
            "for new dates [L20]"
        )
    batch.plan_approved_on = unit.today
    batch.plan_approved_by_region = region
    _transition(unit, batch, "approve_plan", actor, reason)
    site = ExamSite.model_validate(batch.site)
    staff = [
        BatchStaffMember.model_validate(
            {"name": s.name, "id_type": s.id_type, "id_number": s.id_number, "role": s.role.value}
        )
        for s in staff_of(unit, batch.id)
    ]
    payload = BatchPlanApproved(
        **_heading(batch),
        exam_starts_on=batch.exam_starts_on,
        exam_ends_on=batch.exam_ends_on,
        site_city=site.city,
        new_site=batch.new_site,
        candidates=candidate_count(unit, batch.id),
        site_address=site.address,
        site_county=site.county,
        site_capacity=site.capacity,
        site_region=batch.site_region,
        approved_by_region=region,
        staff=staff,
    )
    unit.emit(BATCH_PLAN_APPROVED, subject=batch.id, payload=payload)
    return batch


# --- results -------------------------------------------------------------------------------------------


def record_results(
    *,
    unit: Unit[RecognitionSettings],
    batch: Batch,
    results: list[ScoreCreate],
    actor: Actor,
    reviewers: Sequence[str] = (),
) -> Batch:
    """Scores per component; the batch moves on once every candidate has a result. Performance-review scores
    name their reviewers, experts of the panel supervision drew [L18(三)] (or, in the policy's transition,
    typed in and marked as such)."""
    ensure_not_halted(unit=unit, batch=batch)
    upheld = _upheld_objections(unit, batch)
    if batch.status is S.RESULTS_IN_PUBLICITY and upheld:
        _check_round_resolved(unit, batch)
    elif batch.status not in (S.PLAN_APPROVED, S.RESULTS_RECORDED):
        raise Conflict(
            f"batch {batch.id} is {batch.status.value}; results are recorded for an approved plan "
            "(or again after results were returned, or corrected after an upheld objection)"
        )
    if unit.today < batch.exam_starts_on:
        raise Conflict(f"batch {batch.id} starts {batch.exam_starts_on}; no results before it runs")
    ids = [r.candidate_id for r in results]
    candidates: dict[str, Candidate] = {}
    for start in range(0, len(ids), INSERT_CHUNK):  # bounded IN lists: SQLite caps bound parameters
        candidates.update(
            (c.id, c)
            for c in unit.session.exec(
                select(Candidate).where(
                    Candidate.batch_id == batch.id, col(Candidate.id).in_(ids[start : start + INSERT_CHUNK])
                )
            )
        )
    concerned = None if not upheld or None in upheld else set(upheld)  # None: any candidate may be corrected
    errors = []
    for index, score in enumerate(results):
        candidate = candidates.get(score.candidate_id)
        if candidate is None:
            errors.append(FieldError(f"results.{index}.candidate_id", f"{score.candidate_id} is not in this batch"))
            continue
        if concerned is not None and candidate.id not in concerned:
            errors.append(
                FieldError(
                    f"results.{index}.candidate_id",
                    f"{candidate.name}'s result was not objected to: after an upheld objection only the results "
                    "of the candidates concerned are corrected [G三(五)]",
                )
            )
            continue
        passed, missing = rules.judge(score, method=batch.method, level=batch.level, policy=unit.policy)
        errors += [FieldError(f"results.{index}.{name}", reason) for name, reason in missing]
        candidate.theory, candidate.skill = score.theory, score.skill
        candidate.defence, candidate.performance = score.defence, score.performance
        candidate.absent = score.absent
        candidate.passed = passed
        unit.session.add(candidate)
    panel = {e["expert_id"]: e["name"] for e in panel_of(unit, batch.id, PanelPurpose.PERFORMANCE_REVIEW)}
    errors += rules.reviewer_errors(
        reviewers,
        performance_scored=any(score.performance is not None for score in results),
        panel=panel,
        free_text_until=unit.policy.supervision.free_text_experts_until,
        today=unit.today,
    )
    if errors:
        raise FieldErrors(errors)
    _record_reviewers(unit, batch, reviewers, panel, actor)
    unit.session.flush()
    open_ = unit.session.exec(
        select(func.count())
        .select_from(Candidate)
        .where(Candidate.batch_id == batch.id, col(Candidate.passed).is_(None))
    ).one()
    if open_ == 0 and batch.status is S.PLAN_APPROVED:
        batch.results_recorded_on = unit.today
        _transition(unit, batch, "record_results", actor)
    elif batch.status is S.RESULTS_IN_PUBLICITY:
        batch.results_recorded_on = unit.today
        upheld_ids = ", ".join(str(i) for i in _upheld_ids(unit, batch))
        why = f"corrected after upheld objection(s) {upheld_ids} of round {batch.results_round}: to be published again"
        _transition(unit, batch, "correct_results", actor, f"{why} [G三(五)]")
    elif batch.status is S.RESULTS_RECORDED:
        batch.results_recorded_on = unit.today
        unit.session.add(batch)
    return batch


def _round_objections(unit: Unit[RecognitionSettings], batch: Batch) -> list[ResultObjection]:
    """The objections to the current publicity round's results [G三(五)]."""
    return list(
        unit.session.exec(
            select(ResultObjection)
            .where(ResultObjection.batch_id == batch.id, ResultObjection.round == batch.results_round)
            .order_by(col(ResultObjection.id))
        )
    )


def _upheld_objections(unit: Unit[RecognitionSettings], batch: Batch) -> list[str | None]:
    """The candidates of the current round's upheld objections (None: one objecting to the batch as a whole)."""
    if batch.results_round == 0:
        return []
    return [o.candidate_id for o in _round_objections(unit, batch) if o.upheld]


def _upheld_ids(unit: Unit[RecognitionSettings], batch: Batch) -> list[int]:
    return [o.id for o in _round_objections(unit, batch) if o.upheld and o.id is not None]


def _check_round_resolved(unit: Unit[RecognitionSettings], batch: Batch) -> None:
    open_ones = [o.id for o in _round_objections(unit, batch) if o.upheld is None]
    if open_ones:
        raise Conflict(
            f"objections {open_ones} of round {batch.results_round} are not resolved: resolve them before the "
            "results are corrected [G三(五)]"
        )


def _record_reviewers(
    unit: Unit[RecognitionSettings], batch: Batch, reviewers: Sequence[str], panel: dict[str, str], actor: Actor
) -> None:
    """Adds the reviewers not yet recorded; one recorded as typed in who is now on the panel becomes drawn."""
    recorded = {
        r.expert_id: r for r in unit.session.exec(select(BatchReviewer).where(BatchReviewer.batch_id == batch.id))
    }
    for expert_id in dict.fromkeys(reviewers):
        reviewer = recorded.get(expert_id)
        if reviewer is None:
            reviewer = BatchReviewer(
                batch_id=batch.id,
                expert_id=expert_id,
                drawn=False,
                recorded_on=unit.today,
                recorded_by=actor.subject,
            )
        if expert_id in panel:
            reviewer.drawn, reviewer.name = True, panel[expert_id]
        unit.session.add(reviewer)


def publish_results(*, unit: Unit[RecognitionSettings], batch: Batch, published_on: date, actor: Actor) -> Batch:
    """Publicity of 5+ working days from the portal's publication date [L22, G三(五)]; supervision's online
    monitoring gets the counts and score distributions, never a candidate (`batch results published`)."""
    ensure_not_halted(unit=unit, batch=batch)
    policy = unit.policy
    next_status(ALLOWED, "publish_results", batch.status, f"batch {batch.id}")  # a wrong state is 409 first
    errors = rules.publicity_errors(
        published_on, today=unit.today, exam_ends_on=batch.exam_ends_on, results_recorded_on=batch.results_recorded_on
    )
    if errors:
        raise FieldErrors(errors)
    batch.results_round += 1
    batch.results_published_on = published_on
    batch.results_publicity_until = publicity_end(published_on, policy.periods.publicity_min_working_days)
    batch.report_due_on = add_working_days(
        batch.results_publicity_until, policy.periods.report_after_publicity_working_days
    )
    _transition(
        unit,
        batch,
        "publish_results",
        actor,
        f"publicity round {batch.results_round}: {published_on} to {batch.results_publicity_until}",
    )
    unit.emit(BATCH_RESULTS_PUBLISHED, subject=batch.id, payload=results_published(unit, batch, published_on))
    return batch


def results_published(unit: Unit[RecognitionSettings], batch: Batch, published_on: date) -> BatchResultsPublished:
    """Counts, a 101-bin histogram of whole points per scored component, and the score vectors several
    candidates share. Only the score columns are read, a few thousand rows at a time (a batch may hold
    200,000 candidates); the shared vectors are grouped by the database."""
    theory, skill, defence, performance = (
        col(Candidate.theory),
        col(Candidate.skill),
        col(Candidate.defence),
        col(Candidate.performance),
    )
    rows = unit.session.execute(  # sqlmodel's select types four columns at most
        sa_select(col(Candidate.absent), col(Candidate.passed), theory, skill, defence, performance)
        .where(col(Candidate.batch_id) == batch.id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    candidates = sat = passed = 0
    counts = {name: [0] * 101 for name in COMPONENTS}
    scored: set[str] = set()
    for absent, passed_, *values in rows:
        candidates += 1
        if absent:
            continue
        sat += 1
        passed += bool(passed_)
        for name, value in zip(COMPONENTS, values, strict=True):
            if value is not None:
                counts[name][min(100, max(0, math.floor(value)))] += 1
                scored.add(name)
    shared = func.count().label("shared")
    vectors = (theory, skill, defence, performance)
    repeated = unit.session.execute(
        sa_select(theory, skill, defence, performance, shared)
        .where(
            col(Candidate.batch_id) == batch.id,
            col(Candidate.absent).is_(False),
            or_(*(score.is_not(None) for score in vectors)),
        )
        .group_by(*vectors)
        .having(shared >= 2)
        .order_by(shared.desc(), *(score.asc().nulls_first() for score in vectors))
        .limit(REPEATED_SCORES_SHOWN)
    )
    return BatchResultsPublished(
        **_heading(batch),
        site_city=batch.site["city"],
        published_on=published_on,
        round=max(1, batch.results_round),
        candidates=candidates,
        sat=sat,
        passed=passed,
        pass_mark=unit.policy.results.pass_mark,
        components=[
            ComponentDistribution(component=name, counts=counts[name]) for name in COMPONENTS if name in scored
        ],
        repeated_scores=[
            RepeatedScores(
                scores={name: value for name, value in zip(COMPONENTS, row[:4], strict=True) if value is not None},
                candidates=row[4],
            )
            for row in repeated
        ],
    )


def raise_objection(
    *, unit: Unit[RecognitionSettings], batch: Batch, objection_in: ResultObjectionCreate
) -> ResultObjection:
    if batch.status is not S.RESULTS_IN_PUBLICITY:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; objections are taken during the publicity")
    assert batch.results_published_on and batch.results_publicity_until
    check_within_publicity(objection_in.raised_on, batch.results_published_on, batch.results_publicity_until)
    candidate = unit.session.get(Candidate, objection_in.candidate_id) if objection_in.candidate_id else None
    if objection_in.candidate_id and (candidate is None or candidate.batch_id != batch.id):
        raise FieldError("candidate_id", f"{objection_in.candidate_id} is not a candidate of this batch")
    objection = ResultObjection(batch_id=batch.id, round=max(1, batch.results_round), **objection_in.model_dump())
    unit.session.add(objection)
    unit.session.flush()
    return objection


def resolve_objection(
    *,
    unit: Unit[RecognitionSettings],
    batch: Batch,
    objection_id: int,
    resolution: ObjectionResolution,
) -> ResultObjection:
    objection = unit.session.get(ResultObjection, objection_id)
    if objection is None or objection.batch_id != batch.id:
        raise NotFound(f"no objection {objection_id} on batch {batch.id}")
    resolve(objection, objection_id, resolution, unit.today)
    unit.session.add(objection)
    unit.session.flush()
    return objection


def report(*, unit: Unit[RecognitionSettings], batch: Batch, actor: Actor) -> Batch:
    """The results summary goes to the testing department after the publicity, objections resolved; a report
    after the policy's period is accepted and marked late for supervision [L22] (`batch results reported`)."""
    ensure_not_halted(unit=unit, batch=batch)
    if batch.status is not S.RESULTS_IN_PUBLICITY:
        next_status(ALLOWED, "report", batch.status, f"batch {batch.id}")  # 409 with the states it may be in
    assert batch.results_publicity_until is not None and batch.report_due_on is not None
    today = unit.today
    if batch.status is S.RESULTS_IN_PUBLICITY and today <= batch.results_publicity_until:
        raise Conflict(f"the publicity runs until {batch.results_publicity_until}; report after it [L22]")
    objections = unit.session.exec(
        select(ResultObjection.id, ResultObjection.upheld).where(ResultObjection.batch_id == batch.id)
    ).all()
    current = [(o.id, o.upheld) for o in _round_objections(unit, batch)]
    check_cleared(
        current,
        if_upheld="record the corrected results of the candidates concerned and publish them again (a new round)",
        article="L22, G三(五)",
    )
    batch.reported_on = today
    batch.reported_late = today > batch.report_due_on
    reason = f"late: due {batch.report_due_on}" if batch.reported_late else None
    _transition(unit, batch, "report", actor, reason)
    payload = BatchResultsReported(
        **_heading(batch),
        reported_on=today,
        report_due_on=batch.report_due_on,
        late=batch.reported_late,
        objections=len(objections),
        objections_upheld=sum(1 for _, upheld in objections if upheld),
    )
    unit.emit(BATCH_RESULTS_REPORTED, subject=batch.id, payload=payload)
    return batch


def review(*, unit: Unit[RecognitionSettings], batch: Batch, approve: bool, reason: str | None, actor: Actor) -> Batch:
    """The testing department reviews the results summary [L22]; a return sends the results back."""
    ensure_not_halted(unit=unit, batch=batch)
    _transition(unit, batch, "pass_review" if approve else "return_results", actor, reason)
    return batch


def recheck(
    *, unit: Unit[RecognitionSettings], batch: Batch, approve: bool, reason: str | None, actor: Actor, part_size: int
) -> Batch:
    """The province's re-check [L22]: only then do the passing candidates go to certificates, in parts."""
    ensure_not_halted(unit=unit, batch=batch)
    if not approve:
        _transition(unit, batch, "return_results", actor, reason)
        return batch
    batch.approved_on = unit.today
    batch.approved_by = actor.subject
    _transition(unit, batch, "approve_results", actor, reason)
    # Columns, not ORM objects: a 100,000-candidate batch is read in a fraction of the time and memory.
    passed = [
        PassedCandidate(candidate_id=candidate_id, name=name, id_type=id_type, id_number=id_number)
        for candidate_id, name, id_type, id_number in unit.session.exec(
            select(Candidate.id, Candidate.name, Candidate.id_type, Candidate.id_number)
            .where(Candidate.batch_id == batch.id, col(Candidate.passed).is_(True))
            .order_by(col(Candidate.position))
        )
    ]
    parts = [passed[start : start + part_size] for start in range(0, len(passed), part_size)] or [[]]
    for number, members in enumerate(parts, start=1):
        payload = BatchResultsApproved(
            batch_id=batch.id,
            organization_code=batch.organization_code,
            organization_name=batch.organization_name,
            occupation_code=batch.occupation_code,
            occupation_name=batch.occupation_name,
            work_type=batch.work_type,
            level=batch.level,
            approved_on=unit.today,
            part=number,
            parts=len(parts),
            passed=members,
        )
        unit.emit(BATCH_RESULTS_APPROVED, subject=batch.id, payload=payload)
    return batch


def correct(
    *, unit: Unit[RecognitionSettings], batch: Batch, correction_in: CorrectionCreate, actor: Actor
) -> ResultCorrection:
    """A result changed after approval: a new audited record and event, never an edit of the approved one."""
    if batch.status is not S.APPROVED:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; before approval, record the results again")
    candidate = unit.session.get(Candidate, correction_in.candidate_id)
    if candidate is None or candidate.batch_id != batch.id:
        raise FieldError("candidate_id", f"{correction_in.candidate_id} is not a candidate of this batch")
    before = current_result(unit, candidate)
    if before == correction_in.passed:
        raise Conflict(f"{candidate.name} already {'passed' if before else 'did not pass'}")
    correction = ResultCorrection(
        batch_id=batch.id,
        candidate_id=candidate.id,
        passed_before=before,
        passed_now=correction_in.passed,
        reason=correction_in.reason,
        corrected_by=actor.subject,
        corrected_on=unit.today,
    )
    unit.session.add(correction)
    unit.session.flush()
    assert correction.id is not None
    payload = BatchResultCorrected(
        batch_id=batch.id,
        correction_id=correction.id,
        organization_code=batch.organization_code,
        candidate=PassedCandidate(
            candidate_id=candidate.id, name=candidate.name, id_type=candidate.id_type, id_number=candidate.id_number
        ),
        passed_before=before,
        passed_now=correction_in.passed,
        reason=correction_in.reason,
        corrected_by=actor.subject,
        corrected_on=unit.today,
    )
    unit.emit(BATCH_RESULT_CORRECTED, subject=batch.id, payload=payload)
    return correction


def current_result(unit: Unit[RecognitionSettings], candidate: Candidate) -> bool:
    latest = unit.session.exec(
        select(ResultCorrection)
        .where(ResultCorrection.candidate_id == candidate.id)
        .order_by(col(ResultCorrection.id).desc())
    ).first()
    return latest.passed_now if latest else bool(candidate.passed)


# --- what a suspended or revoked organization leaves: follow-up, cancellation, hand-over [L28] ------------


def _withdrawable(unit: Unit[RecognitionSettings], batch: Batch, action: str) -> FiledOrganization:
    """409 unless the batch is not approved nor withdrawn and its organization is suspended or revoked [L28]."""
    next_status(ALLOWED, action, batch.status, f"batch {batch.id}")
    organization = unit.session.get(FiledOrganization, batch.organization_code)
    reason = rules.withdrawal_refusal(
        batch, organization.status if organization else None, organization.valid_until if organization else None
    )
    if reason or organization is None:
        raise Conflict(reason or f"organization {batch.organization_code} is not known here")
    return organization


def _emit_withdrawn(
    unit: Unit[RecognitionSettings], batch: Batch, reason: str, actor: Actor, new_batch: Batch | None = None
) -> None:
    payload = BatchWithdrawn(
        **_heading(batch),
        action="handed_over" if new_batch else "cancelled",
        reason=reason,
        decided_on=unit.today,
        decided_by=actor.subject,
        candidates=candidate_count(unit, batch.id),
        to_organization_code=new_batch.organization_code if new_batch else None,
        new_batch_id=new_batch.id if new_batch else None,
    )
    unit.emit(BATCH_WITHDRAWN, subject=batch.id, payload=payload)


def cancel(*, unit: Unit[RecognitionSettings], batch: Batch, reason: str, actor: Actor) -> Batch:
    """The testing department cancels a batch of a suspended or revoked organization that was not approved: it
    ends there (`batch withdrawn`) [L28]. Load the batch first (`get_batch` locks it)."""
    _withdrawable(unit, batch, "cancel")
    batch.withdrawn_on = unit.today
    _transition(unit, batch, "cancel", actor, reason)
    _emit_withdrawn(unit, batch, reason, actor)
    return batch


def hand_over(*, unit: Unit[RecognitionSettings], batch: Batch, hand_over_in: HandOverCreate, actor: Actor) -> Batch:
    """The testing department hands a batch of a suspended or revoked organization, not approved, to a filed
    organization within scope for its occupation and level [L28, G四(二)]: a new draft of the receiving organization
    with the same candidates (no results) and the receiving organization's own staff; the batch ends handed_over
    with the new batch's id (`batch withdrawn`). Every problem at once (422). Returns the new draft. Lock the
    batch first (`get_batch` locks it)."""
    _withdrawable(unit, batch, "hand_over")
    code = hand_over_in.to_organization_code
    site = hand_over_in.site or ExamSite.model_validate(batch.site)
    starts_on = hand_over_in.exam_starts_on or batch.exam_starts_on
    ends_on = hand_over_in.exam_ends_on or batch.exam_ends_on
    errors: list[FieldError] = []
    receiving = unit.session.get(FiledOrganization, code)
    if code == batch.organization_code:
        errors.append(FieldError("to_organization_code", f"batch {batch.id} is {code}'s own: hand it to another"))
    elif receiving is None:
        errors.append(FieldError("to_organization_code", f"no filed organization {code} is known here"))
    else:
        scope_errors, row = _scope_errors(
            unit, receiving, batch.occupation_code, batch.level, site.city, work_type=batch.work_type, ends_on=ends_on
        )
        for error in scope_errors:
            field = "to_organization_code" if error.field == "organization_code" else error.field
            errors.append(FieldError(field, error.reason))
        site = _site_with_region(receiving, site)
        errors += rules.site_region_errors(
            site.region, province=receiving.province, new_site=_new_site(receiving, site)
        )
    if ends_on < starts_on:
        errors.append(FieldError("exam_ends_on", f"{ends_on} is before exam_starts_on {starts_on}"))
    errors += rules.staff_declared_errors(hand_over_in.staff, unit.policy)
    errors += _credit_errors(unit, [person.id_number for person in hand_over_in.staff])
    if errors or receiving is None:
        raise FieldErrors(errors)
    new_batch = Batch(
        organization_code=receiving.filing_code,
        organization_name=receiving.name,
        occupation_code=batch.occupation_code,
        occupation_name=row.occupation_name if row else batch.occupation_name,
        work_type=batch.work_type,
        level=batch.level,
        method=batch.method,
        exam_starts_on=starts_on,
        exam_ends_on=ends_on,
        announced_on=hand_over_in.announced_on,
        site=site.model_dump(),
        site_region=site.region,
        new_site=_new_site(receiving, site),
        created_by=actor.subject,
        handed_over_from=batch.id,
    )
    from_ = f"handed over from batch {batch.id} of {batch.organization_code}: {hand_over_in.reason} [L28]"
    _start_draft(unit, new_batch, hand_over_in.staff, actor, from_)
    _copy_candidates(unit, batch, new_batch)
    batch.withdrawn_on = unit.today
    batch.handed_over_to = new_batch.id
    to = f"handed over to {code} as batch {new_batch.id}: {hand_over_in.reason} [L28]"
    _transition(unit, batch, "hand_over", actor, to)
    _emit_withdrawn(unit, batch, hand_over_in.reason, actor, new_batch)
    return new_batch


CANDIDATE_FACTS = (
    "position",
    "name",
    "id_type",
    "id_number",
    "photo_ref",
    "years_of_work",
    "prior_certificate_number",
    "competition_award",
    "completed_teaching_plan",
    "birth_date",
)


def _copy_candidates(unit: Unit[RecognitionSettings], batch: Batch, new_batch: Batch) -> None:
    """The batch's candidates with their facts, not their results, into the new batch in their order: read and
    inserted a chunk at a time by position (a batch may hold 200,000)."""
    columns = [getattr(Candidate, name) for name in CANDIDATE_FACTS]
    last = -1
    while True:
        rows = unit.session.execute(
            sa_select(*columns)
            .where(col(Candidate.batch_id) == batch.id, col(Candidate.position) > last)
            .order_by(col(Candidate.position))
            .limit(INSERT_CHUNK)
        ).all()
        if not rows:
            return
        unit.session.execute(
            insert(Candidate),
            [
                {**dict(zip(CANDIDATE_FACTS, row, strict=True)), "id": str(uuid.uuid4()), "batch_id": new_batch.id}
                for row in rows
            ],
        )
        last = rows[-1][0]


def _followed(unit: Unit[RecognitionSettings], organization_code: str) -> FiledOrganization:
    organization = unit.session.get(FiledOrganization, organization_code)
    if organization is None:
        raise NotFound(f"no filed organization {organization_code} is known here")
    return organization


FOLLOW_UP_ADDED = {"site", "candidate_count", "candidates"}


def follow_up(*, unit: Unit[RecognitionSettings], organization_code: str) -> FollowUpPublic:
    """The organization's batches not approved and not withdrawn, with their candidates' counts [L28]."""
    organization = _followed(unit, organization_code)
    batches = unit.session.exec(
        select(Batch)
        .where(Batch.organization_code == organization_code, col(Batch.status).in_(UNFINISHED))
        .order_by(col(Batch.exam_starts_on), col(Batch.created_at), col(Batch.id))
    ).all()
    counts: dict[str, int] = {}
    ids = [b.id for b in batches]
    for start in range(0, len(ids), INSERT_CHUNK):
        counts.update(
            (batch_id, count)
            for batch_id, count in unit.session.execute(
                sa_select(col(Candidate.batch_id), func.count())
                .where(col(Candidate.batch_id).in_(ids[start : start + INSERT_CHUNK]))
                .group_by(col(Candidate.batch_id))
            )
        )
    data = [
        FollowUpBatch.model_validate(
            {
                **batch.model_dump(include=set(FollowUpBatch.model_fields) - FOLLOW_UP_ADDED),
                "site": ExamSite.model_validate(batch.site),
                "candidate_count": counts.get(batch.id, 0),
                "candidates": f"/batches/{batch.id}/candidates",
            }
        )
        for batch in batches
    ]
    return FollowUpPublic(
        organization_code=organization.filing_code,
        organization_name=organization.name,
        organization_status=organization.status,
        data=data,
        count=len(data),
        candidate_count=sum(counts.values()),
        candidates_csv=f"/organizations/{organization.filing_code}/follow-up/candidates.csv",
    )


FOLLOW_UP_COLUMNS = ("name", "id_type", "id_number", "batch_id", "status")


def write_follow_up_candidates(*, unit: Unit[RecognitionSettings], organization_code: str, out: IO[str]) -> int:
    """Every candidate of those batches as CSV (FOLLOW_UP_COLUMNS; `status` is the batch's), for the department
    to contact them [L28]: only these columns are read, a few thousand rows at a time. Returns the rows written."""
    _followed(unit, organization_code)
    writer = csv.writer(out)
    writer.writerow(FOLLOW_UP_COLUMNS)
    rows = unit.session.execute(
        sa_select(
            col(Candidate.name), col(Candidate.id_type), col(Candidate.id_number), col(Batch.id), col(Batch.status)
        )
        .join(Batch, col(Batch.id) == col(Candidate.batch_id))
        .where(col(Batch.organization_code) == organization_code, col(Batch.status).in_(UNFINISHED))
        .order_by(col(Batch.exam_starts_on), col(Batch.created_at), col(Batch.id), col(Candidate.position))
        .execution_options(yield_per=STREAM_ROWS)
    )
    written = 0
    for name, id_type, id_number, batch_id, batch_status in rows:
        writer.writerow((name, id_type, id_number, batch_id, BatchStatus(batch_status).value))
        written += 1
    return written


# --- the organization's authority and details (registry's events) ------------------------------------------


def authority_of(unit: Unit[RecognitionSettings], organization_code: str) -> str:
    """The GB/T 2260 code of the division whose testing department approves the organization's batch plans: the
    one that selected it [L5, L20], the province when the filing did not say."""
    kept = unit.session.get(OrganizationAuthority, organization_code)
    if kept is not None:
        return kept.selected_by
    organization = unit.session.get(FiledOrganization, organization_code)
    return province_region(organization.province if organization else unit.settings.province)


def keep_filing(*, unit: Unit[RecognitionSettings], filed: OrganizationFiled) -> OrganizationAuthority:
    """Keeps who selected the organization (else the province) and its registered division; the same filing
    delivered again writes the same row."""
    row = unit.session.get(OrganizationAuthority, filed.filing_code) or OrganizationAuthority(
        filing_code=filed.filing_code, selected_by=province_region(filed.province)
    )
    row.selected_by = filed.selected_by or province_region(filed.province)
    row.region = filed.region or row.region
    unit.session.add(row)
    unit.session.flush()
    return row


def apply_details(*, unit: Unit[RecognitionSettings], changed: OrganizationDetailsChanged) -> bool:
    """The organization's name and filed sites as an approved details change has them, whole [L11]; a change
    older than (or the same as) the one applied changes nothing. False when nothing was applied. Raises
    EventTooEarly before the filing."""
    organization = unit.session.get(FiledOrganization, changed.filing_code)
    if organization is None:
        raise EventTooEarly(f"{changed.filing_code} details change {changed.change_id} arrived before its filing")
    row = unit.session.get(OrganizationAuthority, changed.filing_code) or OrganizationAuthority(
        filing_code=changed.filing_code, selected_by=province_region(organization.province)
    )
    if row.details_change_id is not None and row.details_change_id >= changed.change_id:
        return False
    replicas.apply_details(organization, changed)
    row.region = changed.region or row.region
    row.details_change_id = changed.change_id
    unit.session.add(organization)
    unit.session.add(row)
    unit.session.flush()
    return True


# --- new exam sites, notified to the site's division [Z四(一), G四(二)] --------------------------------------------

NOTIFIED = tuple(s for s in BatchStatus if s not in (S.DRAFT, S.SUBMITTED, S.RETURNED))


def new_site_batches(
    *, unit: Unit[RecognitionSettings], region: str, skip: int = 0, limit: int = 100
) -> NewSiteBatchesPublic:
    """The approved batches at a new exam site whose division lies in `region` (the caller's: a county's own, a
    city's and its counties', the province's every one), by start date."""
    level = region_level(region)
    prefix = {RegionLevel.PROVINCE: region[:2], RegionLevel.CITY: region[:4]}.get(level)
    where = [
        col(Batch.new_site).is_(True),
        col(Batch.status).in_(NOTIFIED),
        col(Batch.plan_approved_on).is_not(None),
        col(Batch.site_region).startswith(prefix) if prefix else col(Batch.site_region) == region,
    ]
    total = unit.session.exec(select(func.count()).select_from(Batch).where(*where)).one()
    batches = unit.session.exec(
        select(Batch)
        .where(*where)
        .order_by(col(Batch.exam_starts_on), col(Batch.created_at), col(Batch.id))
        .offset(skip)
        .limit(limit)
    ).all()
    data = [
        NewSiteBatch.model_validate(
            {
                **batch.model_dump(include=set(NewSiteBatch.model_fields) - {"site"}),
                "site": ExamSite.model_validate(batch.site),
            }
        )
        for batch in batches
    ]
    return NewSiteBatchesPublic(region=region, data=data, count=total)


# --- supervision's records -----------------------------------------------------------------------------


def keep_credit_entry(
    *, unit: Unit[RecognitionSettings], entry: CreditEntryRecorded, recorded_at: datetime
) -> PersonCreditEntry | None:
    """The latest `credit entry recorded` for an entry id is the whole entry: it replaces the row; an older version
    arriving after it changes nothing. Only entries of persons with an ID number are kept (recognition checks
    staff); an entry kept here that no longer names a person is dropped. Returns the row, or None."""
    row = unit.session.get(PersonCreditEntry, entry.entry_id)
    if row is not None and row.recorded_at > recorded_at:
        return None
    if entry.subject_kind != "person" or not entry.id_number:
        if row is not None:
            unit.session.delete(row)
            unit.session.flush()
        return None
    id_type = entry.id_type or RESIDENT_ID_CARD
    values = {
        **entry.model_dump(include=set(PersonCreditEntry.model_fields) - {"recorded_at"}),
        "id_type": id_type,
        "id_number": normal_id_number(id_type, entry.id_number),
        "recorded_at": recorded_at,
    }
    row = upsert(unit.session, PersonCreditEntry, values, row)
    unit.session.flush()
    return row


def record_inspection(*, unit: Unit[RecognitionSettings], inspection: InspectionRecorded) -> BatchInspection | None:
    """Writes a sealed inspection record into the batch's exam record (考场记录) and its trail [L27], once per
    inspection id. An inspection of an organization, not of a batch, has no exam record here (None)."""
    if inspection.batch_id is None:
        return None
    batch = unit.session.get(Batch, inspection.batch_id)
    if batch is None or batch.organization_code != inspection.organization_code:
        raise NotFound(
            f"no batch {inspection.batch_id} of {inspection.organization_code} for {inspection.inspection_id}"
        )
    if unit.session.get(BatchInspection, inspection.inspection_id) is not None:
        return None  # the same record sent again: it is in the exam record already
    record = BatchInspection(
        inspection_id=inspection.inspection_id,
        batch_id=batch.id,
        inspected_on=inspection.inspected_on,
        record=inspection.model_dump(mode="json"),
    )
    unit.session.add(record)
    unit.session.add(
        BatchTransition(
            batch_id=batch.id,
            from_status=batch.status,
            to_status=batch.status,
            action="inspection_recorded",
            reason=inspection_summary(inspection),
            actor=", ".join(i.name for i in inspection.inspectors) or "supervision",
            actor_role=INSPECTION_ACTOR_ROLE,
        )
    )
    unit.session.flush()
    return record


def inspection_summary(inspection: InspectionRecorded) -> str:
    """One line for the trail: what was checked and what was found, by severity."""
    checked = len(inspection.items_checked)
    head = f"inspection {inspection.inspection_id} on {inspection.inspected_on}, {checked} items checked"
    if not inspection.findings:
        return f"{head}: no findings"
    severities = Counter(f.severity for f in inspection.findings)
    by_severity = ", ".join(f"{severities[s]} {s}" for s in ("serious", "major", "minor") if severities[s])
    shown = "; ".join(f"{f.item_code} ({f.severity}): {f.description}" for f in inspection.findings[:5])
    more = f"; and {len(inspection.findings) - 5} more" if len(inspection.findings) > 5 else ""
    return f"{head}: {by_severity}: {shown}{more}"


def replace_panel(
    *, unit: Unit[RecognitionSettings], dispatched: ExpertsDispatched, dispatched_at: datetime
) -> BatchPanel | None:
    """The panel supervision drew for a batch and purpose; the latest dispatch replaces it (a refusal re-sends
    it). An older dispatch that arrives after a newer one changes nothing (None)."""
    batch = get_batch(unit=unit, batch_id=dispatched.subject)
    purpose = PanelPurpose(dispatched.purpose)
    panel = unit.session.get(BatchPanel, (batch.id, purpose.value))
    if panel is not None and panel.dispatched_at > dispatched_at:
        return None
    if panel is None:
        panel = BatchPanel(
            batch_id=batch.id, purpose=purpose.value, plan_id=dispatched.plan_id, dispatched_at=dispatched_at
        )
    panel.plan_id = dispatched.plan_id
    panel.experts = [expert.model_dump() for expert in dispatched.experts]
    panel.dispatched_at = dispatched_at
    unit.session.add(panel)
    unit.session.flush()
    return panel


def panel_of(unit: Unit[RecognitionSettings], batch_id: str, purpose: PanelPurpose) -> list[dict[str, Any]]:
    panel = unit.session.get(BatchPanel, (batch_id, purpose.value))
    return list(panel.experts) if panel else []


# --- reading -------------------------------------------------------------------------------------------


def get_batch(*, unit: Unit[RecognitionSettings], batch_id: str) -> Batch:
    """The batch; locked when the unit changes something: two officials pressing the same button queue here, and
    the second meets what the first did (shared.platform.db.locked). Call it first in the transaction."""
    batch = fetch(unit.session, Batch, batch_id, lock=unit.changing)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return batch


def candidates_of(
    *, unit: Unit[RecognitionSettings], batch_id: str, skip: int = 0, limit: int | None = None
) -> list[Candidate]:
    statement = (
        select(Candidate)
        .where(Candidate.batch_id == batch_id)
        .order_by(col(Candidate.position))
        .offset(skip)
        .limit(limit)
    )
    return list(unit.session.exec(statement))


def staff_of(unit: Unit[RecognitionSettings], batch_id: str) -> list[BatchStaff]:
    statement = select(BatchStaff).where(BatchStaff.batch_id == batch_id).order_by(col(BatchStaff.id))
    return list(unit.session.exec(statement))


def trail_of(unit: Unit[RecognitionSettings], batch_id: str) -> list[BatchTransition]:
    return list(
        unit.session.exec(
            select(BatchTransition).where(BatchTransition.batch_id == batch_id).order_by(col(BatchTransition.id))
        )
    )


def inspections_of(unit: Unit[RecognitionSettings], batch_id: str) -> list[InspectionPublic]:
    rows = unit.session.exec(
        select(BatchInspection)
        .where(BatchInspection.batch_id == batch_id)
        .order_by(col(BatchInspection.inspected_on), col(BatchInspection.inspection_id))
    )
    return [_inspection_public(InspectionRecorded.model_validate(row.record)) for row in rows]


def _inspection_public(inspection: InspectionRecorded) -> InspectionPublic:
    return InspectionPublic.model_validate(
        {
            **inspection.model_dump(include={"inspection_id", "inspected_on", "items_checked", "record_hash"}),
            "inspectors": [i.name for i in inspection.inspectors],
            "findings": [f.model_dump(exclude={"evidence"}) for f in inspection.findings],
            "signatures": [s.model_dump() for s in inspection.signatures],
        }
    )


def reviewers_of(unit: Unit[RecognitionSettings], batch_id: str) -> list[BatchReviewer]:
    statement = select(BatchReviewer).where(BatchReviewer.batch_id == batch_id).order_by(col(BatchReviewer.id))
    return list(unit.session.exec(statement))


def to_public(unit: Unit[RecognitionSettings], batch: Batch) -> BatchPublic:
    def experts(purpose: PanelPurpose) -> list[ExpertPublic]:
        return [ExpertPublic.model_validate(e) for e in panel_of(unit, batch.id, purpose)]

    return BatchPublic.model_validate(
        batch,
        update={
            "site": ExamSite.model_validate(batch.site),
            "candidate_count": candidate_count(unit, batch.id),
            "staff": [StaffPublic.model_validate(s, from_attributes=True) for s in staff_of(unit, batch.id)],
            "trail": [TransitionPublic.model_validate(t, from_attributes=True) for t in trail_of(unit, batch.id)],
            "inspections": inspections_of(unit, batch.id),
            "external_supervisors": experts(PanelPurpose.QUALITY_SUPERVISION),
            "review_panel": experts(PanelPurpose.PERFORMANCE_REVIEW),
            "reviewers": [ReviewerPublic.model_validate(r, from_attributes=True) for r in reviewers_of(unit, batch.id)],
        },
    )
