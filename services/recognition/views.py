"""Recognition HTTP API.

Organization operators plan batches, upload candidates, record and publish results and report them; the
testing department (职业技能鉴定部门) approves plans and reviews results; the province re-checks and approves.
"""

from __future__ import annotations

import tempfile
from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from shared.kernel.workflow import ObjectionResolution
from shared.platform.app import RuntimeDep, SessionDep, TodayDep
from shared.platform.auth import Actor, Principal, Role, require_role

from . import service
from .models import (
    Batch,
    BatchCreate,
    BatchPublic,
    CandidatePublic,
    CandidatesPublic,
    CorrectionIn,
    Decision,
    ExamSite,
    PublicityIn,
    ResultObjectionIn,
    ResultsIn,
    StaffPublic,
    TransitionPublic,
    UploadReport,
)
from .prior_certificates import PriorCertificates, QueryUnavailable
from .settings import RecognitionSettings

router = APIRouter(tags=["batches"])

Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
Department = Annotated[Principal, require_role(Role.TESTING_DEPARTMENT)]
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Reader = Annotated[Principal, require_role(Role.ORG_OPERATOR, Role.TESTING_DEPARTMENT, Role.PROVINCE_OFFICIAL,
                                           Role.INSPECTOR)]
UPLOAD_SPOOL_BYTES = 8 * 1024 * 1024


def settings_of(runtime: RuntimeDep) -> RecognitionSettings:
    return cast(RecognitionSettings, runtime.settings)


def to_public(session: Session, batch: Batch) -> BatchPublic:
    return BatchPublic.model_validate(batch, update={
        "site": ExamSite.model_validate(batch.site),
        "candidate_count": service.candidate_count(session, batch.id),
        "staff": [StaffPublic.model_validate(s, from_attributes=True) for s in service.staff_of(session, batch.id)],
        "trail": [TransitionPublic.model_validate(t, from_attributes=True)
                  for t in service.trail_of(session, batch.id)],
    })


def own_batch(session: Session, batch_id: str, principal: Principal) -> Batch:
    batch = service.get_batch(session=session, batch_id=batch_id)
    ensure_own_organization(principal, batch.organization_code)
    return batch


def ensure_own_organization(principal: Principal, organization_code: str) -> None:
    if principal.role is Role.ORG_OPERATOR and principal.organization != organization_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}, "
                            f"not for {organization_code}")


# --- the plan ------------------------------------------------------------------------------------------


@router.post("/batches", status_code=status.HTTP_201_CREATED, response_model=BatchPublic)
def create_batch(batch_in: BatchCreate, session: SessionDep, principal: Operator, today: TodayDep) -> BatchPublic:
    """A draft plan; refused unless the organization is filed for the occupation, level and region."""
    ensure_own_organization(principal, batch_in.organization_code)
    batch = service.create_batch(session=session, batch_in=batch_in, actor=Actor.of(principal), today=today)
    return to_public(session, batch)


@router.post("/batches/{batch_id}/candidates", response_model=UploadReport,
             openapi_extra={"requestBody": {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
async def upload_candidates(batch_id: str, request: Request, session: SessionDep,
                            principal: Operator) -> UploadReport:
    """Candidates as CSV (header: name,id_type,id_number,photo_ref,years_of_work,prior_certificate_number,
    competition_award,completed_teaching_plan) or JSON lines, streamed; every bad row is reported and then
    nothing is stored."""
    batch = await run_in_threadpool(own_batch, session, batch_id, principal)
    content_type = request.headers.get("content-type", "")
    # Spooled to disk past a few MB: a 100,000-row upload keeps memory flat.
    with tempfile.SpooledTemporaryFile(max_size=UPLOAD_SPOOL_BYTES) as upload:
        async for chunk in request.stream():
            upload.write(chunk)
        upload.seek(0)
        rows, stored = await run_in_threadpool(service.upload_candidates, session=session, batch=batch,
                                               upload=upload, content_type=content_type)
    return UploadReport(rows=rows, stored=stored, candidate_count=service.candidate_count(session, batch.id))


@router.post("/batches/{batch_id}/submit", response_model=BatchPublic)
async def submit_batch(batch_id: str, request: Request, session: SessionDep, runtime: RuntimeDep,
                       principal: Operator, today: TodayDep) -> BatchPublic:
    """Submits the plan to the testing department: scope, announcement, integrity and every candidate's
    eligibility are checked (prior certificates through the shared query service, any province)."""
    batch = await run_in_threadpool(own_batch, session, batch_id, principal)
    claims = await run_in_threadpool(service.prior_certificate_claims, session=session, batch=batch)
    prior_certificates: PriorCertificates = request.app.state.prior_certificates
    try:
        prior = await prior_certificates.check(claims)
    except QueryUnavailable as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{error}; nothing was changed, try again") from error
    batch = await run_in_threadpool(service.submit, session=session, batch=batch, policy=runtime.settings.policy,
                                    actor=Actor.of(principal), today=today, prior=prior)
    return await run_in_threadpool(to_public, session, batch)


@router.post("/batches/{batch_id}/plan-decision", response_model=BatchPublic)
def decide_plan(batch_id: str, decision: Decision, session: SessionDep, runtime: RuntimeDep, principal: Department,
                today: TodayDep) -> BatchPublic:
    """The testing department approves the plan or returns it with the reason [L20]."""
    batch = service.get_batch(session=session, batch_id=batch_id)
    batch = service.decide_plan(session=session, batch=batch, approve=decision.approve, reason=decision.reason,
                                actor=Actor.of(principal), province=runtime.settings.province, today=today)
    return to_public(session, batch)


@router.get("/batches/{batch_id}", response_model=BatchPublic)
def read_batch(batch_id: str, session: SessionDep, principal: Reader) -> BatchPublic:
    return to_public(session, own_batch(session, batch_id, principal))


@router.get("/batches/{batch_id}/candidates", response_model=CandidatesPublic)
def read_candidates(batch_id: str, session: SessionDep, principal: Reader,
                    skip: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> CandidatesPublic:
    batch = own_batch(session, batch_id, principal)
    rows = service.candidates_of(session=session, batch_id=batch.id, skip=skip, limit=limit)
    return CandidatesPublic(data=[CandidatePublic.model_validate(c, from_attributes=True) for c in rows],
                            count=service.candidate_count(session, batch.id))


# --- results -------------------------------------------------------------------------------------------


@router.post("/batches/{batch_id}/results", response_model=BatchPublic)
def record_results(batch_id: str, results_in: ResultsIn, session: SessionDep, runtime: RuntimeDep,
                   principal: Operator, today: TodayDep) -> BatchPublic:
    """Scores per component; pass or fail follows the method and the policy's pass mark."""
    batch = own_batch(session, batch_id, principal)
    batch = service.record_results(session=session, batch=batch, results=results_in.results,
                                   policy=runtime.settings.policy, actor=Actor.of(principal), today=today)
    return to_public(session, batch)


@router.post("/batches/{batch_id}/results-publicity", response_model=BatchPublic)
def publish_results(batch_id: str, publicity: PublicityIn, session: SessionDep, runtime: RuntimeDep,
                    principal: Operator, today: TodayDep) -> BatchPublic:
    batch = own_batch(session, batch_id, principal)
    batch = service.publish_results(session=session, batch=batch, published_on=publicity.published_on,
                                    policy=runtime.settings.policy, actor=Actor.of(principal), today=today)
    return to_public(session, batch)


@router.post("/batches/{batch_id}/objections", status_code=status.HTTP_201_CREATED)
def raise_objection(batch_id: str, objection_in: ResultObjectionIn, session: SessionDep,
                    principal: Reader) -> dict[str, object]:
    batch = own_batch(session, batch_id, principal)
    return service.raise_objection(session=session, batch=batch, objection_in=objection_in).model_dump(mode="json")


@router.post("/batches/{batch_id}/objections/{objection_id}/resolve")
def resolve_objection(batch_id: str, objection_id: int, resolution: ObjectionResolution, session: SessionDep,
                      principal: Department, today: TodayDep) -> dict[str, object]:
    batch = service.get_batch(session=session, batch_id=batch_id)
    return service.resolve_objection(session=session, batch=batch, objection_id=objection_id, resolution=resolution,
                                     today=today).model_dump(mode="json")


@router.post("/batches/{batch_id}/report", response_model=BatchPublic)
def report(batch_id: str, session: SessionDep, principal: Operator, today: TodayDep) -> BatchPublic:
    """The results summary (结果汇总表) to the testing department, after the publicity [L22]."""
    batch = own_batch(session, batch_id, principal)
    return to_public(session, service.report(session=session, batch=batch, actor=Actor.of(principal), today=today))


@router.post("/batches/{batch_id}/review", response_model=BatchPublic)
def review(batch_id: str, decision: Decision, session: SessionDep, principal: Department) -> BatchPublic:
    batch = service.get_batch(session=session, batch_id=batch_id)
    return to_public(session, service.review(session=session, batch=batch, approve=decision.approve,
                                             reason=decision.reason, actor=Actor.of(principal)))


@router.post("/batches/{batch_id}/approve", response_model=BatchPublic)
def approve(batch_id: str, session: SessionDep, runtime: RuntimeDep, principal: Official, today: TodayDep,
            decision: Decision | None = None) -> BatchPublic:
    """The province's re-check of the reviewed results; the passing candidates go to certificates [L22-23]."""
    decision = decision or Decision(approve=True)
    batch = service.get_batch(session=session, batch_id=batch_id)
    batch = service.recheck(session=session, batch=batch, approve=decision.approve, reason=decision.reason,
                            actor=Actor.of(principal), province=runtime.settings.province,
                            part_size=settings_of(runtime).approved_event_part_size, today=today)
    return to_public(session, batch)


@router.post("/batches/{batch_id}/corrections", status_code=status.HTTP_201_CREATED)
def correct(batch_id: str, correction_in: CorrectionIn, session: SessionDep, runtime: RuntimeDep,
            principal: Official, today: TodayDep) -> dict[str, object]:
    """A result corrected after approval: a new audited record and event; the approved result stays."""
    batch = service.get_batch(session=session, batch_id=batch_id)
    return service.correct(session=session, batch=batch, correction_in=correction_in, actor=Actor.of(principal),
                           province=runtime.settings.province, today=today).model_dump(mode="json")
