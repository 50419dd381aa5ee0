"""Recognition operations: plan a batch within the organization's filed scope, record results, approve."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from shared.errors import Conflict, FieldError, NotFound
from shared.events import BATCH_RESULTS_APPROVED, BatchResultsApproved, PassedCandidate
from shared.outbox import record_event
from shared.replicas import FiledOrganization

from .models import Batch, BatchCreate, BatchStatus, Candidate


def create_batch(*, session: Session, batch_in: BatchCreate, created_by: str, today: date | None = None) -> Batch:
    """Accepts a batch plan only for a filed organization, within its occupation and level scope."""
    organization = session.get(FiledOrganization, batch_in.organization_code)
    if organization is None:
        raise FieldError("organization_code", f"no filed organization {batch_in.organization_code} is known here")
    out_of_scope = organization.scope_error(
        occupation_code=batch_in.occupation_code, level=batch_in.level, on=today or date.today()
    )
    if out_of_scope is not None:
        raise out_of_scope
    batch = Batch.model_validate(
        batch_in, update={"organization_name": organization.name, "created_by": created_by}
    )
    session.add(batch)
    session.flush()
    for position, candidate_in in enumerate(batch_in.candidates):
        session.add(Candidate.model_validate(candidate_in, update={"batch_id": batch.id, "position": position}))
    session.commit()
    session.refresh(batch)
    return batch


def get_batch(*, session: Session, batch_id: str) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return batch


def candidates_of(*, session: Session, batch_id: str) -> list[Candidate]:
    statement = select(Candidate).where(Candidate.batch_id == batch_id).order_by(col(Candidate.position))
    return list(session.exec(statement))


def record_results(*, session: Session, batch: Batch, results: dict[str, bool]) -> Batch:
    if batch.status is BatchStatus.APPROVED:
        raise Conflict(f"batch {batch.id} is approved; corrections are a new audited event, not an edit")
    candidates = {c.id: c for c in candidates_of(session=session, batch_id=batch.id)}
    unknown = sorted(set(results) - set(candidates))
    if unknown:
        raise FieldError("results", f"candidates not in this batch: {', '.join(unknown[:5])}")
    for candidate_id, passed in results.items():
        candidates[candidate_id].passed = passed
        session.add(candidates[candidate_id])
    if all(c.passed is not None for c in candidates.values()):
        batch.status = BatchStatus.RESULTS_RECORDED
    session.add(batch)
    session.commit()
    session.refresh(batch)
    return batch


def approve_batch(
    *, session: Session, batch: Batch, approved_by: str, province: str, part_size: int, today: date | None = None
) -> Batch:
    """The province's approval of the results summary: publishes the passing candidates, in parts."""
    if batch.status is not BatchStatus.RESULTS_RECORDED:
        raise Conflict(f"batch {batch.id} is {batch.status.value}; only a batch with all results recorded "
                       "can be approved")
    batch.status = BatchStatus.APPROVED
    batch.approved_on = today or date.today()
    batch.approved_by = approved_by
    session.add(batch)
    passed = [
        PassedCandidate(candidate_id=c.id, name=c.name, id_type=c.id_type, id_number=c.id_number)
        for c in candidates_of(session=session, batch_id=batch.id)
        if c.passed
    ]
    parts = [passed[i : i + part_size] for i in range(0, len(passed), part_size)] or [[]]
    for number, part in enumerate(parts, start=1):
        payload = BatchResultsApproved(
            batch_id=batch.id, organization_code=batch.organization_code, organization_name=batch.organization_name,
            occupation_code=batch.occupation_code, occupation_name=batch.occupation_name,
            work_type=batch.work_type, level=batch.level, approved_on=batch.approved_on,
            part=number, parts=len(parts), passed=part,
        )
        event = BATCH_RESULTS_APPROVED.make(province=province, subject=batch.id, payload=payload)
        record_event(session, BATCH_RESULTS_APPROVED, event, key=batch.id)
    session.commit()
    session.refresh(batch)
    return batch
