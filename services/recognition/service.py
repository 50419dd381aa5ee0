"""Recognition: a batch from its plan through results, publicity, report, review and the province's re-check.

Plain keyword-only functions over a session. Every state change goes through `_transition`, which checks
it is allowed and writes the audit row in the same transaction as the change.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import date
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from shared.kernel.errors import Conflict, FieldError, FieldErrors, NotFound
from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    BatchPlanApproved,
    BatchResultCorrected,
    BatchResultsApproved,
    PassedCandidate,
)
from shared.kernel.policy import Policy
from shared.kernel.workdays import add_working_days, publicity_end
from shared.kernel.workflow import ObjectionResolution, check_cleared, check_within_publicity, next_status, resolve
from shared.platform.auth import Actor
from shared.platform.outbox import record_event
from shared.platform.replicas import FiledOrganization

from . import eligibility
from .models import (
    ACTIVE,
    DIRECT_METHODS,
    Batch,
    BatchCreate,
    BatchStaff,
    BatchStatus,
    BatchTransition,
    Candidate,
    CandidateCreate,
    CorrectionIn,
    Method,
    ResultCorrection,
    ResultObjection,
    ResultObjectionIn,
    ScoreIn,
    StaffRole,
)
from .prior_certificates import Claim

S = BatchStatus

# Which action moves which state where. Anything else is refused with 409 and the reason.
ALLOWED: dict[str, tuple[tuple[BatchStatus, ...], BatchStatus]] = {
    "submit": ((S.DRAFT, S.RETURNED), S.SUBMITTED),
    "return_plan": ((S.SUBMITTED,), S.RETURNED),
    "approve_plan": ((S.SUBMITTED,), S.PLAN_APPROVED),
    "record_results": ((S.PLAN_APPROVED,), S.RESULTS_RECORDED),
    "publish_results": ((S.RESULTS_RECORDED,), S.RESULTS_IN_PUBLICITY),
    "report": ((S.RESULTS_IN_PUBLICITY,), S.REPORTED),
    "pass_review": ((S.REPORTED,), S.REVIEWED),
    "return_results": ((S.REPORTED, S.REVIEWED), S.RESULTS_RECORDED),
    "approve_results": ((S.REVIEWED,), S.APPROVED),
}
EDITABLE = (S.DRAFT, S.RETURNED)
MAX_CANDIDATES = 200_000
INSERT_CHUNK = 5_000


def _transition(session: Session, batch: Batch, action: str, actor: Actor, reason: str | None = None) -> None:
    target = next_status(ALLOWED, action, batch.status, f"batch {batch.id}")
    session.add(BatchTransition(batch_id=batch.id, from_status=batch.status, to_status=target, action=action,
                                reason=reason, actor=actor.subject, actor_role=actor.role))
    batch.status = target
    session.add(batch)


def _commit(session: Session, batch: Batch) -> Batch:
    session.commit()
    session.refresh(batch)
    return batch


# --- the plan ------------------------------------------------------------------------------------------


def create_batch(*, session: Session, batch_in: BatchCreate, actor: Actor, today: date) -> Batch:
    """A draft plan, for a filed organization within its scope; candidates may come with it or be uploaded."""
    organization = _organization(session, batch_in.organization_code)
    _check_scope(organization, batch_in.occupation_code, batch_in.level, batch_in.site.city, today)
    _check_staff_declared(batch_in)
    batch = Batch.model_validate(batch_in, update={
        "organization_name": organization.name, "created_by": actor.subject, "site": batch_in.site.model_dump(),
        "new_site": not any(s.get("address") == batch_in.site.address for s in organization.sites),
    })
    session.add(batch)
    session.flush()
    session.add(BatchTransition(batch_id=batch.id, from_status=None, to_status=S.DRAFT, action="create",
                                actor=actor.subject, actor_role=actor.role))
    for person in batch_in.staff:
        session.add(BatchStaff(batch_id=batch.id, **person.model_dump()))
    seen: set[tuple[str, str]] = set()
    errors, _ = _add_candidates(session, batch, enumerate(batch_in.candidates), seen, position=0,
                                field=lambda i: f"candidates.{i}")
    if errors:
        session.rollback()
        raise FieldErrors(errors)
    return _commit(session, batch)


def _organization(session: Session, code: str) -> FiledOrganization:
    organization = session.get(FiledOrganization, code)
    if organization is None:
        raise FieldError("organization_code", f"no filed organization {code} is known here")
    return organization


def _check_scope(organization: FiledOrganization, occupation_code: str, level: int, city: str, on: date) -> None:
    """Filed, in good standing, occupation and level and region within its scope [G四(二)]."""
    out_of_scope = organization.scope_error(occupation_code=occupation_code, level=level, on=on)
    if out_of_scope is not None:
        raise out_of_scope
    if organization.evaluation_scope == "city" and organization.city and city != organization.city:
        raise FieldError("site.city", f"{organization.filing_code} is filed to recognise in {organization.city} "
                         f"only, not in {city} [G四(二)]")


def _check_staff_declared(batch_in: BatchCreate) -> None:
    """The plan names examiners, invigilators and internal quality supervisors [L20]; one role per person."""
    errors = []
    roles = {person.role for person in batch_in.staff}
    for role in StaffRole:
        if role not in roles:
            errors.append(FieldError("staff", f"the plan names no {role.value} [L20]"))
    seen: dict[tuple[str, str], int] = {}
    for index, person in enumerate(batch_in.staff):
        key = (person.id_type, person.id_number)
        if key in seen:
            errors.append(FieldError(f"staff.{index}", f"{person.name} already serves in this batch as "
                                     f"{batch_in.staff[seen[key]].role.value}: one role per person "
                                     "(不相容岗位分离) [G四(二)]"))
        seen[key] = index
    if errors:
        raise FieldErrors(errors)


def _add_candidates(
    session: Session, batch: Batch, rows: Iterable[tuple[int, CandidateCreate | FieldError]],
    seen: set[tuple[str, str]], *, position: int, field: Any,
) -> tuple[list[FieldError], int]:
    """Inserts valid rows in chunks; returns every error (the caller rolls back if there is any) and the
    number of rows read."""
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
        if errors:
            continue  # nothing will be stored: only keep validating
        chunk.append({**row.model_dump(), "id": str(uuid.uuid4()), "batch_id": batch.id, "position": position})
        position += 1
        if len(chunk) >= INSERT_CHUNK:
            session.execute(insert(Candidate), chunk)
            chunk = []
    if chunk and not errors:
        session.execute(insert(Candidate), chunk)
    if position > MAX_CANDIDATES:
        errors.append(FieldError("candidates", f"at most {MAX_CANDIDATES} candidates per batch"))
    return errors, read


def candidate_count(session: Session, batch_id: str) -> int:
    return session.exec(select(func.count()).select_from(Candidate).where(Candidate.batch_id == batch_id)).one()


def upload_candidates(*, session: Session, batch: Batch, upload: IO[bytes], content_type: str) -> tuple[int, int]:
    """Adds candidates from CSV (with a header row) or JSON lines, validated row by row: every bad row is
    reported (422) and then nothing is stored. Returns (rows read, rows stored)."""
    if batch.status not in EDITABLE:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; candidates are added to a draft or returned plan")
    existing = session.exec(select(Candidate.id_type, Candidate.id_number).where(Candidate.batch_id == batch.id))
    seen = {(id_type, id_number) for id_type, id_number in existing}
    start = len(seen)
    errors, read = _add_candidates(session, batch, _parsed_rows(upload, content_type), seen, position=start,
                                   field=lambda line: f"line {line}")
    if errors:
        session.rollback()
        raise FieldErrors(errors)
    session.commit()
    return read, len(seen) - start


CSV_COLUMNS = ("name", "id_type", "id_number", "photo_ref", "years_of_work", "prior_certificate_number",
               "competition_award", "completed_teaching_plan")


def _parsed_rows(upload: IO[bytes], content_type: str) -> Iterator[tuple[int, CandidateCreate | FieldError]]:
    """(line number, candidate or the first error of that line), one line at a time."""
    text = io.TextIOWrapper(upload, encoding="utf-8-sig", newline="")
    if content_type.startswith("text/csv"):
        reader = csv.DictReader(text)
        unknown = set(reader.fieldnames or ()) - set(CSV_COLUMNS)
        if not reader.fieldnames or "name" not in reader.fieldnames or unknown:
            raise FieldError("line 1", f"the header must name columns among {', '.join(CSV_COLUMNS)}; unknown: "
                             f"{', '.join(sorted(unknown)) or 'none'}")
        records: Iterator[tuple[int, Any]] = ((reader.line_num, row) for row in reader)
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


def _json_line(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        return FieldError("", f"not JSON: {error.msg}")


def prior_certificate_claims(*, session: Session, batch: Batch) -> list[Claim]:
    statement = select(Candidate).where(Candidate.batch_id == batch.id,
                                        col(Candidate.prior_certificate_number).is_not(None))
    return [Claim(c.id, c.name, c.id_number, c.prior_certificate_number or "") for c in session.exec(statement)]


def submit(*, session: Session, batch: Batch, policy: Policy, actor: Actor, today: date,
           prior: dict[str, eligibility.PriorCertificate]) -> Batch:
    """Checks the whole plan against the replica, the policy and the integrity rules; 422 with every problem."""
    organization = _organization(session, batch.organization_code)
    _check_scope(organization, batch.occupation_code, batch.level, batch.site["city"], today)
    errors = [*_announcement_errors(batch, policy, today), *_integrity_errors(session, batch),
              *_eligibility_errors(session, batch, prior)]
    if candidate_count(session, batch.id) == 0:
        errors.append(FieldError("candidates", "the plan has no candidates"))
    if errors:
        raise FieldErrors(errors)
    reason = "new exam site: dual supervision [G四(二)]" if batch.new_site else None
    _transition(session, batch, "submit", actor, reason)
    return _commit(session, batch)


def _announcement_errors(batch: Batch, policy: Policy, today: date) -> list[FieldError]:
    """Announced the policy's working days ahead [G三(五)]; dates not in the past."""
    errors = []
    if batch.exam_starts_on < today:
        errors.append(FieldError("exam_starts_on", f"{batch.exam_starts_on} has passed: a plan is approved before "
                                 "it runs [L20]"))
    lead = policy.periods.batch_announcement_working_days
    if lead:
        if batch.announced_on is None:
            errors.append(FieldError("announced_on", f"{policy.name} requires the batch to be announced {lead} "
                                     f"working days ahead [{policy.periods.source}]"))
        elif batch.announced_on > today:
            errors.append(FieldError("announced_on", "the announcement date cannot be in the future"))
        elif add_working_days(batch.announced_on, lead) > batch.exam_starts_on:
            errors.append(FieldError("announced_on", f"announced {batch.announced_on}, the batch may start "
                                     f"{add_working_days(batch.announced_on, lead)} at the earliest: {lead} working "
                                     f"days [{policy.periods.source}]"))
    return errors


def _integrity_errors(session: Session, batch: Batch) -> list[FieldError]:
    """Trainers do not examine their trainees; relatives step aside; nobody serves two sites at once."""
    errors = []
    staff = list(session.exec(select(BatchStaff).where(BatchStaff.batch_id == batch.id).order_by(col(BatchStaff.id))))
    for index, person in enumerate(staff):
        conflicts = [("trained", person.trained)] if person.role is StaffRole.EXAMINER else []
        conflicts.append(("related", person.related))
        for kind, id_numbers in conflicts:
            if not id_numbers:
                continue
            names = session.exec(select(Candidate.name).where(
                Candidate.batch_id == batch.id, col(Candidate.id_number).in_(id_numbers))).all()
            if names:
                why = ("trained" if kind == "trained" else "is related to")
                rule = "不相容岗位分离" if kind == "trained" else "回避"
                errors.append(FieldError(f"staff.{index}", f"{person.name} {why} {', '.join(names[:5])} and may "
                                         f"not serve as {person.role.value} for them ({rule}) [G四(二), Z五(五)]"))
        elsewhere = session.exec(
            select(Batch).join(BatchStaff, col(BatchStaff.batch_id) == col(Batch.id)).where(
                BatchStaff.id_type == person.id_type, BatchStaff.id_number == person.id_number,
                Batch.id != batch.id, col(Batch.status).in_(ACTIVE),
                col(Batch.exam_starts_on) <= batch.exam_ends_on, col(Batch.exam_ends_on) >= batch.exam_starts_on,
            )
        ).all()
        for other in elsewhere:
            if other.site.get("address") != batch.site.get("address"):
                errors.append(FieldError(f"staff.{index}", f"{person.name} serves batch {other.id} at "
                                         f"{other.site.get('address')} from {other.exam_starts_on} to "
                                         f"{other.exam_ends_on}: not two sites at once [G四(二)]"))
    return errors


def _eligibility_errors(session: Session, batch: Batch,
                        prior: dict[str, eligibility.PriorCertificate]) -> list[FieldError]:
    errors = []
    statement = select(Candidate).where(Candidate.batch_id == batch.id).order_by(col(Candidate.position))
    for candidate in session.exec(statement):
        at = f"candidates.{candidate.position}"
        if batch.method is Method.COMPETITION:
            if not candidate.competition_award:
                errors.append(FieldError(f"{at}.competition_award", f"{candidate.name}: a competition batch "
                                         "recognises award winners of a filed competition only [L18(四)]"))
            continue
        if batch.method is Method.STUDENT:
            if not candidate.completed_teaching_plan:
                errors.append(FieldError(f"{at}.completed_teaching_plan", f"{candidate.name} has not completed the "
                                         f"teaching plan of level {batch.level} [S一]"))
            continue
        reason = eligibility.refusal(level=batch.level, occupation_code=batch.occupation_code,
                                     years_of_work=candidate.years_of_work, prior=prior.get(candidate.id))
        if reason:
            field = "prior_certificate_number" if candidate.prior_certificate_number else "years_of_work"
            errors.append(FieldError(f"{at}.{field}", f"{candidate.name}: {reason}"))
    return errors


def decide_plan(*, session: Session, batch: Batch, approve: bool, reason: str | None, actor: Actor,
                province: str, today: date) -> Batch:
    """The testing department approves the plan (it may then run) or returns it with the reason [L20]."""
    if not approve:
        _transition(session, batch, "return_plan", actor, reason)
        return _commit(session, batch)
    if today > batch.exam_starts_on:
        raise Conflict(f"batch {batch.id} was to start {batch.exam_starts_on}: nothing runs unapproved; return it "
                       "for new dates [L20]")
    batch.plan_approved_on = today
    _transition(session, batch, "approve_plan", actor, reason)
    payload = BatchPlanApproved(
        batch_id=batch.id, organization_code=batch.organization_code, organization_name=batch.organization_name,
        occupation_code=batch.occupation_code, occupation_name=batch.occupation_name, work_type=batch.work_type,
        level=batch.level, method=batch.method.value, exam_starts_on=batch.exam_starts_on,
        exam_ends_on=batch.exam_ends_on, site_city=batch.site["city"], new_site=batch.new_site,
        candidates=candidate_count(session, batch.id),
    )
    record_event(session, BATCH_PLAN_APPROVED, BATCH_PLAN_APPROVED.make(province=province, subject=batch.id,
                                                                        payload=payload), key=batch.id)
    return _commit(session, batch)


# --- results -------------------------------------------------------------------------------------------


def judge(score: ScoreIn, *, method: Method, level: int, policy: Policy) -> tuple[bool, list[tuple[str, str]]]:
    """Pass or fail by the method's components, each at the policy's pass mark; or what is missing."""
    if score.absent:
        return False, []
    if method in DIRECT_METHODS:
        return True, []  # recognised directly on the facts checked at submission [L18(四), S一]
    rules = policy.results
    needed = {
        Method.ASSESSMENT: ["theory", "skill"],
        Method.COMBINED: ["theory", "skill", "performance"],
        Method.PERFORMANCE_REVIEW: ["performance"],
    }[method]
    if method is Method.ASSESSMENT and level <= rules.defence_from_rank:
        needed.append("defence")
    missing = [(name, f"{method.value} at level {level} needs a {name} score [{rules.source}]")
               for name in needed if getattr(score, name) is None]
    if missing:
        return False, missing
    return all(getattr(score, name) >= rules.pass_mark for name in needed), []


def record_results(*, session: Session, batch: Batch, results: list[ScoreIn], policy: Policy, actor: Actor,
                   today: date) -> Batch:
    """Scores per component; the batch moves on once every candidate has a result."""
    if batch.status not in (S.PLAN_APPROVED, S.RESULTS_RECORDED):
        raise Conflict(f"batch {batch.id} is {batch.status.value}; results are recorded for an approved plan "
                       "(or again after results were returned)")
    if today < batch.exam_starts_on:
        raise Conflict(f"batch {batch.id} starts {batch.exam_starts_on}; no results before it runs")
    ids = [r.candidate_id for r in results]
    candidates: dict[str, Candidate] = {}
    for start in range(0, len(ids), INSERT_CHUNK):  # bounded IN lists: SQLite caps bound parameters
        candidates.update((c.id, c) for c in session.exec(select(Candidate).where(
            Candidate.batch_id == batch.id, col(Candidate.id).in_(ids[start:start + INSERT_CHUNK]))))
    errors = []
    for index, score in enumerate(results):
        candidate = candidates.get(score.candidate_id)
        if candidate is None:
            errors.append(FieldError(f"results.{index}.candidate_id", f"{score.candidate_id} is not in this batch"))
            continue
        passed, missing = judge(score, method=batch.method, level=batch.level, policy=policy)
        errors += [FieldError(f"results.{index}.{name}", reason) for name, reason in missing]
        candidate.theory, candidate.skill = score.theory, score.skill
        candidate.defence, candidate.performance = score.defence, score.performance
        candidate.passed = passed
        session.add(candidate)
    if errors:
        session.rollback()
        raise FieldErrors(errors)
    session.flush()
    open_ = session.exec(select(func.count()).select_from(Candidate).where(
        Candidate.batch_id == batch.id, col(Candidate.passed).is_(None))).one()
    if open_ == 0 and batch.status is S.PLAN_APPROVED:
        _transition(session, batch, "record_results", actor)
    return _commit(session, batch)


def publish_results(*, session: Session, batch: Batch, published_on: date, policy: Policy, actor: Actor,
                    today: date) -> Batch:
    """Publicity of 5+ working days from the portal's publication date [L22, G三(五)]."""
    if published_on > today:
        raise FieldError("published_on", "the publication date cannot be in the future")
    if published_on < batch.exam_ends_on:
        raise FieldError("published_on", f"results cannot be published before the batch ends {batch.exam_ends_on}")
    batch.results_published_on = published_on
    batch.results_publicity_until = publicity_end(published_on, policy.periods.publicity_min_working_days)
    batch.report_due_on = add_working_days(batch.results_publicity_until,
                                           policy.periods.report_after_publicity_working_days)
    _transition(session, batch, "publish_results", actor,
                f"publicity {published_on} to {batch.results_publicity_until}")
    return _commit(session, batch)


def raise_objection(*, session: Session, batch: Batch, objection_in: ResultObjectionIn) -> ResultObjection:
    if batch.status is not S.RESULTS_IN_PUBLICITY:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; objections are taken during the publicity")
    assert batch.results_published_on and batch.results_publicity_until
    check_within_publicity(objection_in.raised_on, batch.results_published_on, batch.results_publicity_until)
    if objection_in.candidate_id and session.get(Candidate, objection_in.candidate_id) is None:
        raise FieldError("candidate_id", f"{objection_in.candidate_id} is not a candidate of this batch")
    objection = ResultObjection(batch_id=batch.id, **objection_in.model_dump())
    session.add(objection)
    session.commit()
    session.refresh(objection)
    return objection


def resolve_objection(*, session: Session, batch: Batch, objection_id: int, resolution: ObjectionResolution,
                      today: date) -> ResultObjection:
    objection = session.get(ResultObjection, objection_id)
    if objection is None or objection.batch_id != batch.id:
        raise NotFound(f"no objection {objection_id} on batch {batch.id}")
    resolve(objection, objection_id, resolution, today)
    session.add(objection)
    session.commit()
    session.refresh(objection)
    return objection


def report(*, session: Session, batch: Batch, actor: Actor, today: date) -> Batch:
    """The results summary goes to the testing department after the publicity, objections resolved; a report
    after the policy's period is accepted and marked late for supervision [L22]."""
    assert batch.results_publicity_until is not None and batch.report_due_on is not None
    if batch.status is S.RESULTS_IN_PUBLICITY and today <= batch.results_publicity_until:
        raise Conflict(f"the publicity runs until {batch.results_publicity_until}; report after it [L22]")
    objections = session.exec(select(ResultObjection.id, ResultObjection.upheld).where(
        ResultObjection.batch_id == batch.id)).all()
    check_cleared(list(objections), if_upheld="correct the results and publish them again", article="L22")
    batch.reported_on = today
    batch.reported_late = today > batch.report_due_on
    reason = f"late: due {batch.report_due_on}" if batch.reported_late else None
    _transition(session, batch, "report", actor, reason)
    return _commit(session, batch)


def review(*, session: Session, batch: Batch, approve: bool, reason: str | None, actor: Actor) -> Batch:
    """The testing department reviews the results summary [L22]; a return sends the results back."""
    _transition(session, batch, "pass_review" if approve else "return_results", actor, reason)
    return _commit(session, batch)


def recheck(*, session: Session, batch: Batch, approve: bool, reason: str | None, actor: Actor, province: str,
            part_size: int, today: date) -> Batch:
    """The province's re-check [L22]: only then do the passing candidates go to certificates, in parts."""
    if not approve:
        _transition(session, batch, "return_results", actor, reason)
        return _commit(session, batch)
    batch.approved_on = today
    batch.approved_by = actor.subject
    _transition(session, batch, "approve_results", actor, reason)
    passed = session.exec(select(Candidate).where(Candidate.batch_id == batch.id, col(Candidate.passed).is_(True))
                          .order_by(col(Candidate.position)))
    part: list[PassedCandidate] = []
    parts: list[list[PassedCandidate]] = []
    for candidate in passed:
        part.append(PassedCandidate(candidate_id=candidate.id, name=candidate.name, id_type=candidate.id_type,
                                    id_number=candidate.id_number))
        if len(part) == part_size:
            parts.append(part)
            part = []
    if part or not parts:
        parts.append(part)
    for number, members in enumerate(parts, start=1):
        payload = BatchResultsApproved(
            batch_id=batch.id, organization_code=batch.organization_code, organization_name=batch.organization_name,
            occupation_code=batch.occupation_code, occupation_name=batch.occupation_name,
            work_type=batch.work_type, level=batch.level, approved_on=today, part=number, parts=len(parts),
            passed=members,
        )
        event = BATCH_RESULTS_APPROVED.make(province=province, subject=batch.id, payload=payload)
        record_event(session, BATCH_RESULTS_APPROVED, event, key=batch.id)
    return _commit(session, batch)


def correct(*, session: Session, batch: Batch, correction_in: CorrectionIn, actor: Actor, province: str,
            today: date) -> ResultCorrection:
    """A result changed after approval: a new audited record and event, never an edit of the approved one."""
    if batch.status is not S.APPROVED:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; before approval, record the results again")
    candidate = session.get(Candidate, correction_in.candidate_id)
    if candidate is None or candidate.batch_id != batch.id:
        raise FieldError("candidate_id", f"{correction_in.candidate_id} is not a candidate of this batch")
    before = current_result(session, candidate)
    if before == correction_in.passed:
        raise Conflict(f"{candidate.name} already {'passed' if before else 'did not pass'}")
    correction = ResultCorrection(batch_id=batch.id, candidate_id=candidate.id, passed_before=before,
                                  passed_now=correction_in.passed, reason=correction_in.reason,
                                  corrected_by=actor.subject, corrected_on=today)
    session.add(correction)
    session.flush()
    assert correction.id is not None
    payload = BatchResultCorrected(
        batch_id=batch.id, correction_id=correction.id, organization_code=batch.organization_code,
        candidate=PassedCandidate(candidate_id=candidate.id, name=candidate.name, id_type=candidate.id_type,
                                  id_number=candidate.id_number),
        passed_before=before, passed_now=correction_in.passed, reason=correction_in.reason,
        corrected_by=actor.subject, corrected_on=today,
    )
    record_event(session, BATCH_RESULT_CORRECTED, BATCH_RESULT_CORRECTED.make(
        province=province, subject=batch.id, payload=payload), key=batch.id)
    session.commit()
    session.refresh(correction)
    return correction


def current_result(session: Session, candidate: Candidate) -> bool:
    latest = session.exec(select(ResultCorrection).where(ResultCorrection.candidate_id == candidate.id)
                          .order_by(col(ResultCorrection.id).desc())).first()
    return latest.passed_now if latest else bool(candidate.passed)


# --- reading -------------------------------------------------------------------------------------------


def get_batch(*, session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return batch


def candidates_of(*, session: Session, batch_id: str, skip: int = 0, limit: int | None = None) -> list[Candidate]:
    statement = (select(Candidate).where(Candidate.batch_id == batch_id).order_by(col(Candidate.position))
                 .offset(skip).limit(limit))
    return list(session.exec(statement))


def staff_of(session: Session, batch_id: str) -> list[BatchStaff]:
    return list(session.exec(select(BatchStaff).where(BatchStaff.batch_id == batch_id).order_by(col(BatchStaff.id))))


def trail_of(session: Session, batch_id: str) -> list[BatchTransition]:
    return list(session.exec(select(BatchTransition).where(BatchTransition.batch_id == batch_id)
                             .order_by(col(BatchTransition.id))))
