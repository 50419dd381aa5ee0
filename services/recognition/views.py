"""Recognition HTTP API: operators plan batches and record results; province officials approve."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, status
from sqlmodel import Session

from shared.auth import Principal, Role, require_role
from shared.service import RuntimeDep, SessionDep

from . import service
from .models import Batch, BatchCreate, BatchPublic, CandidatePublic, ResultsIn
from .settings import RecognitionSettings

router = APIRouter(tags=["batches"])

Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Reader = Annotated[Principal, require_role(Role.ORG_OPERATOR, Role.PROVINCE_OFFICIAL, Role.INSPECTOR)]


def to_public(session: Session, batch: Batch) -> BatchPublic:
    candidates = [CandidatePublic.model_validate(c) for c in service.candidates_of(session=session, batch_id=batch.id)]
    return BatchPublic.model_validate(batch, update={"candidates": candidates})


def ensure_own_organization(principal: Principal, organization_code: str) -> None:
    if principal.role is Role.ORG_OPERATOR and principal.organization != organization_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}, "
                            f"not for {organization_code}")


@router.post("/batches", status_code=status.HTTP_201_CREATED, response_model=BatchPublic)
def create_batch(batch_in: BatchCreate, session: SessionDep, principal: Operator) -> BatchPublic:
    """Submits a batch plan; refused unless the organization is filed for the occupation and level."""
    ensure_own_organization(principal, batch_in.organization_code)
    batch = service.create_batch(session=session, batch_in=batch_in, created_by=principal.subject)
    return to_public(session, batch)


@router.get("/batches/{batch_id}", response_model=BatchPublic)
def read_batch(batch_id: str, session: SessionDep, principal: Reader) -> BatchPublic:
    batch = service.get_batch(session=session, batch_id=batch_id)
    ensure_own_organization(principal, batch.organization_code)
    return to_public(session, batch)


@router.post("/batches/{batch_id}/results", response_model=BatchPublic)
def record_results(batch_id: str, results_in: ResultsIn, session: SessionDep, principal: Operator) -> BatchPublic:
    batch = service.get_batch(session=session, batch_id=batch_id)
    ensure_own_organization(principal, batch.organization_code)
    results = {r.candidate_id: r.passed for r in results_in.results}
    return to_public(session, service.record_results(session=session, batch=batch, results=results))


@router.post("/batches/{batch_id}/approve", response_model=BatchPublic)
def approve_batch(batch_id: str, session: SessionDep, runtime: RuntimeDep, principal: Official) -> BatchPublic:
    """The province approves the results summary; the passing candidates go to certificates."""
    settings = cast(RecognitionSettings, runtime.settings)
    batch = service.get_batch(session=session, batch_id=batch_id)
    batch = service.approve_batch(
        session=session, batch=batch, approved_by=principal.subject, province=settings.province,
        part_size=settings.approved_event_part_size,
    )
    return to_public(session, batch)
