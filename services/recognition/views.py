"""Recognition HTTP API.

Organization operators plan batches, upload candidates, record and publish results and report them; the
testing department (职业技能鉴定部门) approves plans and reviews results; the province re-checks and approves.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from shared.kernel.workflow import ObjectionResolution
from shared.platform.auth import Actor, Principal, Role
from shared.platform.deps import RowId, Skip, UnitDep
from shared.platform.unit import Unit

from . import service
from .deps import Department, FollowUp, NewSiteReader, Official, Operator, PriorCertificatesDep, Reader, SettingsDep
from .models import (
    ApprovalDecision,
    Batch,
    BatchCreate,
    BatchPublic,
    CancelCreate,
    CandidatePublic,
    CandidatesPublic,
    CorrectionCreate,
    FollowUpPublic,
    HandOverCreate,
    HandOverPublic,
    NewSiteBatchesPublic,
    PublicityCreate,
    ResultCorrectionPublic,
    ResultObjectionCreate,
    ResultObjectionPublic,
    ResultsCreate,
    UploadReport,
)
from .prior_certificates import QueryUnavailable
from .settings import RecognitionSettings

router = APIRouter(tags=["batches"])

UPLOAD_SPOOL_BYTES = 8 * 1024 * 1024
DOWNLOAD_CHUNK_BYTES = 64 * 1024
OrganizationCode = Annotated[str, Path(min_length=1, max_length=13)]


def own_batch(unit: Unit[RecognitionSettings], batch_id: str, principal: Principal) -> Batch:
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    ensure_own_organization(principal, batch.organization_code)
    return batch


def ensure_own_organization(principal: Principal, organization_code: str) -> None:
    if principal.role is Role.ORG_OPERATOR and principal.organization != organization_code:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}, not for {organization_code}"
        )


# --- the plan ------------------------------------------------------------------------------------------


@router.post("/batches", status_code=status.HTTP_201_CREATED, response_model=BatchPublic)
def create_batch(batch_in: BatchCreate, unit: UnitDep, principal: Operator) -> BatchPublic:
    """A draft plan; refused unless the organization is filed for the occupation, level and region."""
    ensure_own_organization(principal, batch_in.organization_code)
    batch = service.create_batch(unit=unit, batch_in=batch_in, actor=Actor.of(principal))
    return service.to_public(unit, batch)


@router.post(
    "/batches/{batch_id}/candidates",
    response_model=UploadReport,
    openapi_extra={"requestBody": {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def upload_candidates(batch_id: str, request: Request, unit: UnitDep, principal: Operator) -> UploadReport:
    """Candidates as CSV (header: name,id_type,id_number,photo_ref,years_of_work,prior_certificate_number,
    competition_award,completed_teaching_plan) or JSON lines, streamed; every bad row is reported and then
    nothing is stored."""
    batch = await run_in_threadpool(own_batch, unit, batch_id, principal)
    content_type = request.headers.get("content-type", "")
    # Spooled to disk past a few MB: a 100,000-row upload keeps memory flat.
    with tempfile.SpooledTemporaryFile(max_size=UPLOAD_SPOOL_BYTES) as upload:
        async for chunk in request.stream():
            upload.write(chunk)
        upload.seek(0)
        rows, stored = await run_in_threadpool(
            service.upload_candidates, unit=unit, batch=batch, upload=upload, content_type=content_type
        )
    return UploadReport(rows=rows, stored=stored, candidate_count=service.candidate_count(unit, batch.id))


@router.post("/batches/{batch_id}/submit", response_model=BatchPublic)
async def submit_batch(
    batch_id: str, unit: UnitDep, prior_certificates: PriorCertificatesDep, principal: Operator
) -> BatchPublic:
    """Submits the plan to the testing department: scope, announcement, integrity and every candidate's
    eligibility are checked (prior certificates through the shared query service, any province)."""
    batch = await run_in_threadpool(own_batch, unit, batch_id, principal)
    await run_in_threadpool(service.ensure_not_halted, unit=unit, batch=batch)  # before asking the query service
    claims = await run_in_threadpool(service.prior_certificate_claims, unit=unit, batch=batch)
    try:
        prior = await prior_certificates.check(claims)
    except QueryUnavailable as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{error}; nothing was changed, try again") from error
    batch = await run_in_threadpool(service.submit, unit=unit, batch=batch, actor=Actor.of(principal), prior=prior)
    return await run_in_threadpool(service.to_public, unit, batch)


@router.post("/batches/{batch_id}/plan-decision", response_model=BatchPublic)
def decide_plan(batch_id: str, decision: ApprovalDecision, unit: UnitDep, principal: Department) -> BatchPublic:
    """The testing department of the organization's authority (the division that selected it: the province or a
    city) approves the plan or returns it with the reason [L20]; another division's department gets 403."""
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    batch = service.decide_plan(
        unit=unit,
        batch=batch,
        approve=decision.approve,
        reason=decision.reason,
        actor=Actor.of(principal),
        region=principal.region,
    )
    return service.to_public(unit, batch)


@router.get("/new-site-batches", response_model=NewSiteBatchesPublic)
def new_site_batches(
    unit: UnitDep,
    principal: NewSiteReader,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> NewSiteBatchesPublic:
    """The approved batches at new exam sites (not filed sites) notified to the caller's division: a county's
    own, a city's and its counties', the province's all [Z四(一), G四(二)]."""
    return service.new_site_batches(unit=unit, region=principal.region, skip=skip, limit=limit)


@router.get("/batches/{batch_id}", response_model=BatchPublic)
def read_batch(batch_id: str, unit: UnitDep, principal: Reader) -> BatchPublic:
    return service.to_public(unit, own_batch(unit, batch_id, principal))


@router.get("/batches/{batch_id}/candidates", response_model=CandidatesPublic)
def read_candidates(
    batch_id: str,
    unit: UnitDep,
    principal: Reader,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> CandidatesPublic:
    batch = own_batch(unit, batch_id, principal)
    rows = service.candidates_of(unit=unit, batch_id=batch.id, skip=skip, limit=limit)
    return CandidatesPublic(
        data=[CandidatePublic.model_validate(c, from_attributes=True) for c in rows],
        count=service.candidate_count(unit, batch.id),
    )


# --- results -------------------------------------------------------------------------------------------


@router.post("/batches/{batch_id}/results", response_model=BatchPublic)
def record_results(batch_id: str, results_in: ResultsCreate, unit: UnitDep, principal: Operator) -> BatchPublic:
    """Scores per component; pass or fail follows the method and the policy's pass mark. Performance-review scores
    name their `reviewers`, experts of the panel supervision drew for the batch [L18(三)]."""
    batch = own_batch(unit, batch_id, principal)
    batch = service.record_results(
        unit=unit, batch=batch, results=results_in.results, reviewers=results_in.reviewers, actor=Actor.of(principal)
    )
    return service.to_public(unit, batch)


@router.post("/batches/{batch_id}/results-publicity", response_model=BatchPublic)
def publish_results(batch_id: str, publicity: PublicityCreate, unit: UnitDep, principal: Operator) -> BatchPublic:
    batch = own_batch(unit, batch_id, principal)
    batch = service.publish_results(
        unit=unit, batch=batch, published_on=publicity.published_on, actor=Actor.of(principal)
    )
    return service.to_public(unit, batch)


@router.post(
    "/batches/{batch_id}/objections", status_code=status.HTTP_201_CREATED, response_model=ResultObjectionPublic
)
def raise_objection(
    batch_id: str, objection_in: ResultObjectionCreate, unit: UnitDep, principal: Reader
) -> ResultObjectionPublic:
    batch = own_batch(unit, batch_id, principal)
    stored = service.raise_objection(unit=unit, batch=batch, objection_in=objection_in)
    return ResultObjectionPublic.model_validate(stored, from_attributes=True)


@router.post("/batches/{batch_id}/objections/{objection_id}/resolve", response_model=ResultObjectionPublic)
def resolve_objection(
    batch_id: str, objection_id: RowId, resolution: ObjectionResolution, unit: UnitDep, principal: Department
) -> ResultObjectionPublic:
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    stored = service.resolve_objection(unit=unit, batch=batch, objection_id=objection_id, resolution=resolution)
    return ResultObjectionPublic.model_validate(stored, from_attributes=True)


@router.post("/batches/{batch_id}/report", response_model=BatchPublic)
def report(batch_id: str, unit: UnitDep, principal: Operator) -> BatchPublic:
    """The results summary (结果汇总表) to the testing department, after the publicity [L22]."""
    batch = own_batch(unit, batch_id, principal)
    return service.to_public(unit, service.report(unit=unit, batch=batch, actor=Actor.of(principal)))


@router.post("/batches/{batch_id}/review", response_model=BatchPublic)
def review(batch_id: str, decision: ApprovalDecision, unit: UnitDep, principal: Department) -> BatchPublic:
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    return service.to_public(
        unit,
        service.review(
            unit=unit, batch=batch, approve=decision.approve, reason=decision.reason, actor=Actor.of(principal)
        ),
    )


@router.post("/batches/{batch_id}/approve", response_model=BatchPublic)
def approve(
    batch_id: str, unit: UnitDep, settings: SettingsDep, principal: Official, decision: ApprovalDecision | None = None
) -> BatchPublic:
    """The province's re-check of the reviewed results; the passing candidates go to certificates [L22-23]."""
    decision = decision or ApprovalDecision(approve=True)
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    batch = service.recheck(
        unit=unit,
        batch=batch,
        approve=decision.approve,
        reason=decision.reason,
        actor=Actor.of(principal),
        part_size=settings.approved_event_part_size,
    )
    return service.to_public(unit, batch)


@router.post(
    "/batches/{batch_id}/corrections", status_code=status.HTTP_201_CREATED, response_model=ResultCorrectionPublic
)
def correct(
    batch_id: str, correction_in: CorrectionCreate, unit: UnitDep, principal: Official
) -> ResultCorrectionPublic:
    """A result corrected after approval: a new audited record and event; the approved result stays."""
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    stored = service.correct(unit=unit, batch=batch, correction_in=correction_in, actor=Actor.of(principal))
    return ResultCorrectionPublic.model_validate(stored, from_attributes=True)


# --- what a suspended or revoked organization leaves [L28] ---------------------------------------------


@router.get("/organizations/{organization_code}/follow-up", response_model=FollowUpPublic)
def follow_up(organization_code: OrganizationCode, unit: UnitDep, principal: FollowUp) -> FollowUpPublic:
    """The organization's batches not approved and not withdrawn, to finish, cancel or hand over [L28]."""
    return service.follow_up(unit=unit, organization_code=organization_code)


@router.get(
    "/organizations/{organization_code}/follow-up/candidates.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def follow_up_candidates(organization_code: OrganizationCode, unit: UnitDep, principal: FollowUp) -> StreamingResponse:
    """Every candidate of those batches (name, id_type, id_number, batch_id, status), for the department to contact
    them [L28]. Written inside the request's transaction to a spooled file (memory stays flat), then streamed."""
    # Not a with-block: the file outlives this function; the response's iterator closes it.
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=UPLOAD_SPOOL_BYTES)  # noqa: SIM115
    text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")  # with a BOM: spreadsheets read the names
    try:
        service.write_follow_up_candidates(unit=unit, organization_code=organization_code, out=text)
        text.flush()
        text.detach()
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while block := spool.read(DOWNLOAD_CHUNK_BYTES):
                yield block

    filename = f"follow-up-{organization_code}-{unit.today.isoformat()}.csv"
    return StreamingResponse(
        chunks(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/batches/{batch_id}/cancel", response_model=BatchPublic)
def cancel(batch_id: str, cancel_in: CancelCreate, unit: UnitDep, principal: Department) -> BatchPublic:
    """Cancels a batch, not approved, of a suspended or revoked organization [L28]; `batch withdrawn` goes out."""
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    batch = service.cancel(unit=unit, batch=batch, reason=cancel_in.reason, actor=Actor.of(principal))
    return service.to_public(unit, batch)


@router.post("/batches/{batch_id}/hand-over", response_model=HandOverPublic)
def hand_over(batch_id: str, hand_over_in: HandOverCreate, unit: UnitDep, principal: Department) -> HandOverPublic:
    """Hands a batch, not approved, of a suspended or revoked organization to a filed organization within scope: a
    new draft of its with the same candidates and its own staff [L28]; `batch withdrawn` goes out."""
    batch = service.get_batch(unit=unit, batch_id=batch_id)
    new_batch = service.hand_over(unit=unit, batch=batch, hand_over_in=hand_over_in, actor=Actor.of(principal))
    return HandOverPublic(handed_over=service.to_public(unit, batch), new_batch=service.to_public(unit, new_batch))
