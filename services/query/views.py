"""The public lookup: free, no token, every province; certificates, the organization catalogue, batch plans,
verification of an electronic certificate, supervision's published plans, draws, inspection results and star
ratings (一公开), and the web page that uses them. Served from Redis only; complaints and reports (投诉举报) alone are
forwarded to the province's supervision (complaints.py), which keeps them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParameter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from shared.kernel.errors import FieldError, FieldErrors
from shared.kernel.events import DrawMade, InspectionPlanPublished
from shared.platform.deps import TodayDep, lookup_number

from .complaints import Answer, public_status
from .deps import SettingsDep, StoreDep, SupervisionsDep, fair_use_of, store_of
from .models import (
    CertificateView,
    ComplaintForm,
    ComplaintReceipt,
    ComplaintStatusView,
    HolderLookup,
    LookupResult,
    Page,
    PlanDocuments,
    UploadedCredential,
    Verification,
    summary,
)
from .store import CertificateStore, newest_inspection_first

router = APIRouter(tags=["public lookup"])
PAGE = Path(__file__).parent / "page" / "index.html"


REBUILDING_RETRY_AFTER_SECONDS = 10
REBUILDING = {
    "description": "the read model is still being rebuilt from the log: nothing was looked up or counted against "
    "fair use; ask again after Retry-After seconds",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}},
}


async def admitted_client(request: Request) -> str | None:
    """Counts the lookup against the client's share (429 past it); the client, None for a partner system.
    While the read model is still being rebuilt, 503 and nothing counted: it would answer "not on record" for
    certificates that exist, and count that as the client's miss."""
    refuse_while_rebuilding(request)
    return await forwarding_client(request)


def refuse_while_rebuilding(request: Request) -> None:
    if not request.app.state.read_model.caught_up:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the read model is still being rebuilt from the log: please ask again shortly "
            f"(数据正在更新，请 {REBUILDING_RETRY_AFTER_SECONDS} 秒后再试)",
            headers={"Retry-After": str(REBUILDING_RETRY_AFTER_SECONDS)},
        )


async def forwarding_client(request: Request) -> str | None:
    """As `admitted_client`, for what does not read the read model (complaints are forwarded to supervision)."""
    fair_use = fair_use_of(request)
    client = fair_use.client(request)
    await fair_use.admit(client)
    return client


Client = Annotated[str | None, Depends(admitted_client)]
ForwardingClient = Annotated[str | None, Depends(forwarding_client)]


def json_response(document: bytes) -> Response:
    # Documents are stored as validated CertificateView JSON: served as they are, not validated again.
    return Response(document, media_type="application/json")


@router.get("/certificates/{number}", response_model=CertificateView, responses={503: REBUILDING})
async def by_number(number: str, request: Request) -> Response:
    """Looks a certificate up by its 22-character number (a legacy 16-digit number is accepted)."""
    # The busiest route calls its checks itself: FastAPI's dependency solving would cost a tenth of the request.
    refuse_while_rebuilding(request)
    fair_use, store = fair_use_of(request), store_of(request)
    client = fair_use.client(request)
    # Counted, then read: when the client takes a new lease (nearly every lookup among many distinct clients), in
    # the one Redis call that takes it; from a lease, one GET (the document as stored: store.documents).
    document = await fair_use.admit_and_read(client, store.key("cert", number))
    if document is not None:
        return json_response(document)
    # Every number on record met the national rule when it was issued, so the rule is applied only to a number
    # that is not found as typed: for the 422 naming the fault, a legacy number, or its normal form (case,
    # spaces, full-width digits) looked up again.
    normalized = await lookup_number(number)
    documents = await store.documents([normalized]) if normalized != number else []
    if not documents:
        await fair_use.missed(client)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {normalized} on record")
    return json_response(documents[0])


@router.post(
    "/holder-lookups",
    response_model=LookupResult,
    status_code=status.HTTP_200_OK,
    responses={503: REBUILDING},
)
async def by_holder(request: Request, client: Client, lookup: HolderLookup) -> Response:
    """Looks certificates up by name plus ID number, both in the JSON body (`{"name": …, "id_number": …}`), so
    the ID number is in no URL: not in an access log, a proxy's log or a trace. Both are required, so neither can
    be enumerated; finding nothing counts as a miss for fair use. Nothing is created: it answers 200."""
    store = store_of(request)
    documents = await store.documents(await store.holder_numbers(lookup.name, lookup.id_number))
    if not documents:
        await fair_use_of(request).missed(client)
    return json_response(b'{"data":[' + b",".join(documents) + b'],"count":%d}' % len(documents))


@router.get("/certificates", include_in_schema=False)
async def by_holder_moved() -> Response:
    """The lookup by holder took name and ID number in the query string until it moved to `POST /holder-lookups`:
    answered with 410 and where it went, without reading the parameters or counting anything."""
    raise HTTPException(
        status.HTTP_410_GONE,
        "look certificates up by holder with POST /holder-lookups and a JSON body "
        '{"name": …, "id_number": …}: an ID number does not belong in a URL',
    )


CREDENTIAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "the W3C credential JSON of a skill certificate as the holder received it (claims may be "
    "hidden), at most 256 KiB",
    "required": ["credentialSubject"],
    "properties": {
        "credentialSubject": {"type": "object", "description": "the signed claims"},
        "proof": {"type": "object", "description": "salts, target hash, Merkle path and root, the batch signature"},
        "issuer": {"type": "object"},
        "credentialStatus": {"type": "object"},
    },
}
MAX_CREDENTIAL_DEPTH = 32  # a credential is four levels deep; deeper input is refused before it is verified


@router.post(
    "/verifications",
    response_model=Verification,
    status_code=status.HTTP_200_OK,
    responses={
        413: {
            "description": "larger than any electronic certificate (`QUERY_MAX_UPLOAD_BYTES`, 256 KiB)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}},
        },
        503: REBUILDING,
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CREDENTIAL_SCHEMA}}}},
)
async def verify_credential(request: Request, store: StoreDep, settings: SettingsDep, _client: Client) -> Verification:
    """Verifies an uploaded electronic certificate (the W3C credential JSON the holder received): integrity,
    signature, filing, status. A body that is not such a credential (not JSON, nested deeper than any credential,
    a part of the wrong type) is refused with 422 naming the field."""
    body = await _body(request, settings.max_upload_bytes, "an electronic certificate is far smaller than this")
    try:
        credential = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FieldError("body", f"not JSON: {error}") from error
    except RecursionError as error:
        raise FieldError("body", "nested far deeper than an electronic certificate") from error
    if _deeper_than(credential, MAX_CREDENTIAL_DEPTH):
        raise FieldError("body", "nested far deeper than an electronic certificate")
    if not isinstance(credential, dict) or "credentialSubject" not in credential:
        raise FieldError("credentialSubject", "not an electronic skill certificate (no credentialSubject)")
    try:
        UploadedCredential.model_validate(credential)
    except ValidationError as error:
        raise FieldErrors(
            [FieldError(".".join(str(part) for part in e["loc"]), e["msg"]) for e in error.errors()]
        ) from error
    return Verification.model_validate(summary(await store.verify_uploaded(credential)))


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether this parsed JSON nests arrays and objects more than `limit` deep (without recursing)."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


def _matches(entry: dict[str, Any], text: str | None, *fields: str) -> bool:
    return not text or any(text.lower() in str(entry.get(name, "")).lower() for name in fields)


def _page(entries: list[dict[str, Any]], offset: int, limit: int) -> Page:
    return Page(data=entries[offset : offset + limit], count=len(entries))


Offset = Annotated[int, Query(ge=0, le=100_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
Province = Annotated[str | None, Query(pattern=r"^\d{2}$", description="GB/T 2260 province code")]
Text = Annotated[str | None, Query(max_length=60)]


@router.get("/organizations", response_model=Page, responses={503: REBUILDING})
async def organizations(
    store: StoreDep,
    _client: Client,
    q: Annotated[Text, Query(description="part of the name or filing code")] = None,
    province: Province = None,
    occupation: Annotated[Text, Query(description="occupation code or name")] = None,
    filed_only: bool = True,
    offset: Offset = 0,
    limit: Limit = 20,
) -> Page:
    """The catalogue of filed evaluation organizations of every province, their occupations and levels."""
    entries = [
        entry
        for entry in await store.catalogue("organizations")
        if (not province or entry.get("province") == province)
        and _matches(entry, q, "name", "filing_code")
        and (not filed_only or entry.get("status") == "filed")
        and (
            not occupation
            or any(
                _matches(item, occupation, "occupation_code", "occupation_name") for item in entry.get("scope") or []
            )
        )
    ]
    entries.sort(key=lambda e: (e.get("province", ""), e.get("filing_code", "")))
    page = _page(entries, offset, limit)
    # Each organization's published inspection results, newest first, whichever province inspected it (a site
    # outside its own province is inspected there too [Z四(一)]); filing codes are unique across provinces.
    # And its latest star rating, by whichever province rated it, with its inputs (null before its first rating).
    inspections = await store.inspections_by_organization()
    ratings = await store.ratings()
    page.data = [
        {
            **entry,
            "inspections": inspections.get(entry.get("filing_code", ""), []),
            "rating": ratings.get(entry.get("filing_code", "")),
        }
        for entry in page.data
    ]
    return page


@router.get("/batch-plans", response_model=Page, responses={503: REBUILDING})
async def batch_plans(
    store: StoreDep,
    today: TodayDep,
    _client: Client,
    year: Annotated[int | None, Query(ge=2019, le=2100)] = None,
    province: Province = None,
    q: Annotated[Text, Query(description="organization, occupation or city")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> Page:
    """The year's approved recognition batches of every province (this year unless `year` says otherwise)."""
    year = year or today.year
    entries = [
        plan
        for plan in await store.catalogue("batch-plans")
        if plan["exam_starts_on"].startswith(str(year))
        and (not province or plan.get("province") == province)
        and _matches(
            plan, q, "organization_name", "organization_code", "occupation_name", "occupation_code", "site_city"
        )
    ]
    entries.sort(key=lambda p: (p["exam_starts_on"], p["batch_id"]))
    return _page(entries, offset, limit)


ProvincePath = Annotated[str, PathParameter(pattern=r"^\d{2}$", description="GB/T 2260 province code")]
PlanId = Annotated[str, PathParameter(min_length=1, max_length=64, description="the plan id, e.g. 33-P000001")]
FilingCode = Annotated[
    str | None, Query(pattern=r"^[SYsy][0-9]{12}$", description="the organization's 13-character filing code")
]


@router.get("/inspection-plans", response_model=Page, responses={503: REBUILDING})
async def inspection_plans(
    store: StoreDep,
    _client: Client,
    province: Province = None,
    q: Annotated[Text, Query(description="part of the title or plan id")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> Page:
    """Published inspection plans (and expert panels) of every province, newest first, with their draw status:
    `drawn`, `drawn_on`, `drawn_targets` (双随机、一公开 [L27, Z四(五)])."""
    entries = [
        plan
        for plan in await store.catalogue("inspection-plans")
        if (not province or plan["province"] == province) and _matches(plan, q, "title", "plan_id")
    ]
    entries.sort(key=lambda p: (p["published_on"], p["province"], p["plan_id"]), reverse=True)
    page = _page(entries, offset, limit)
    draws = await store.catalogue_by_key("draws")
    page.data = [_with_draw(plan, draws.get(f"{plan['province']}:{plan['plan_id']}")) for plan in page.data]
    return page


def _with_draw(plan: dict[str, Any], draw: dict[str, Any] | None) -> dict[str, Any]:
    return {
        **plan,
        "drawn": draw is not None,
        "drawn_on": draw and draw["drawn_on"],
        "drawn_targets": draw and draw["drawn_targets"],
    }


@router.get("/inspection-plans/{province}/{plan_id}", response_model=PlanDocuments, responses={503: REBUILDING})
async def inspection_plan(province: ProvincePath, plan_id: PlanId, store: StoreDep, _client: Client) -> Response:
    """The plan and its latest draw exactly as published: what the offline verifier reads
    (`python -m services.supervision.draw verify plan.json draw.json`). `draw` is null until the draw."""
    plan, draw = await _plan_documents(store, province, plan_id)
    return json_response(b'{"plan":' + plan + b',"draw":' + (draw or b"null") + b"}")


@router.get(
    "/inspection-plans/{province}/{plan_id}/plan.json",
    response_model=InspectionPlanPublished,
    responses={503: REBUILDING},
)
async def inspection_plan_document(
    province: ProvincePath, plan_id: PlanId, store: StoreDep, _client: Client
) -> Response:
    """The plan as published, to download (plan.json for the verifier)."""
    plan, _ = await _plan_documents(store, province, plan_id)
    return _download(plan, _file_name(province, plan_id, "plan"))


@router.get("/inspection-plans/{province}/{plan_id}/draw.json", response_model=DrawMade, responses={503: REBUILDING})
async def draw_document(province: ProvincePath, plan_id: PlanId, store: StoreDep, _client: Client) -> Response:
    """The plan's latest draw as published, to download (draw.json for the verifier); 404 before the draw."""
    _, draw = await _plan_documents(store, province, plan_id)
    if draw is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"inspection plan {plan_id} of province {province} not drawn yet"
        )
    return _download(draw, _file_name(province, plan_id, "draw"))


async def _plan_documents(store: CertificateStore, province: str, plan_id: str) -> tuple[bytes, bytes | None]:
    plan, draw = await store.plan_documents(province, plan_id)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no inspection plan {plan_id} of province {province} on record")
    return plan, draw


def _file_name(province: str, plan_id: str, kind: str) -> str:
    """`33-P000001.plan.json`: the plan id, with its province in front unless it starts with it already."""
    return f"{plan_id if plan_id.startswith(f'{province}-') else f'{province}-{plan_id}'}.{kind}.json"


def _download(document: bytes, filename: str) -> Response:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)
    return Response(
        document, media_type="application/json", headers={"Content-Disposition": f'attachment; filename="{safe}"'}
    )


@router.get("/inspections", response_model=Page, responses={503: REBUILDING})
async def inspections(
    store: StoreDep,
    _client: Client,
    province: Annotated[Province, Query(description="the inspecting province")] = None,
    organization_code: FilingCode = None,
    q: Annotated[Text, Query(description="part of the organization's name or code, the inspection or plan id")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> Page:
    """Published inspection results of every province, newest first: the organization, the day, the inspectors'
    names, the items checked and the findings in summary (一公开 [L27, Z四(五)])."""
    code = organization_code and organization_code.upper()
    entries = [
        inspection
        for inspection in await store.catalogue("inspections")
        if (not province or inspection["province"] == province)
        and (not code or inspection["organization_code"] == code)
        and _matches(inspection, q, "organization_name", "organization_code", "inspection_id", "plan_id")
    ]
    entries.sort(key=newest_inspection_first)
    return _page(entries, offset, limit)


# --- complaints and reports (投诉举报), forwarded -------------------------------------------------------------

TrackingCode = Annotated[
    str,
    PathParameter(
        # Lower case accepted, as typed on a phone; forwarded in capitals.
        pattern=r"^\d{2}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{12}$",
        description="the complaint's tracking code, e.g. 33-8H4K2M9QX4PZ: its province, then 12 characters",
    ),
]
COMPLAINT_SCHEMA = ComplaintForm.model_json_schema()
NOT_ANSWERING = {"description": 'the province\'s supervision service is not answering: {"detail": …}'}


async def _body(request: Request, limit: int, too_large: str = "a complaint is far smaller than this") -> bytes:
    """The request body, read up to `limit` bytes (413 past it, before reading on when Content-Length says so)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_large)
    return bytes(body)


def _forwarded(answer: Answer, body: Any) -> Response:
    headers = {"Retry-After": answer.retry_after} if answer.retry_after else None
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        status_code=answer.status_code,
        media_type="application/json",
        headers=headers,
    )


@router.post(
    "/complaints/{province}",
    tags=["complaints"],
    status_code=status.HTTP_201_CREATED,
    response_model=ComplaintReceipt,
    responses={
        404: {"description": "no supervision service of this province is configured"},
        422: {"description": "supervision's answer: every fault of the complaint, by field"},
        503: NOT_ANSWERING,
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": COMPLAINT_SCHEMA}}}},
)
async def file_complaint(
    province: ProvincePath,
    request: Request,
    settings: SettingsDep,
    supervisions: SupervisionsDep,
    _client: ForwardingClient,
) -> Response:
    """Files a complaint or report (投诉举报) with the province's supervision: the JSON body is forwarded to it
    unchanged, and its answer (201 with the tracking code and the deadlines, or 422) comes back as it is. Nothing
    of the complaint is kept or logged here."""
    supervisions.of(province)  # 404 before the body is read
    body = await _body(request, settings.max_complaint_bytes)
    answer = await supervisions.forward(province, "POST", "/complaints", body)
    return _forwarded(answer, answer.body)


@router.get(
    "/complaints/{tracking_code}",
    tags=["complaints"],
    response_model=ComplaintStatusView,
    responses={404: {"description": "no such complaint, or no supervision of its province"}, 503: NOT_ANSWERING},
)
async def complaint_status(
    tracking_code: TrackingCode, request: Request, supervisions: SupervisionsDep, client: ForwardingClient
) -> Response:
    """A complaint's status, deadlines and reply, by its tracking code, from the supervision of the province its
    first two digits name. A code not found counts as a miss for fair use (codes are not to be guessed)."""
    code = tracking_code.upper()
    try:
        answer = await supervisions.forward(code[:2], "GET", f"/complaints/{code}")
    except HTTPException as error:
        if error.status_code == status.HTTP_404_NOT_FOUND:  # a province without supervision here: a miss as well
            await fair_use_of(request).missed(client)
        raise
    if answer.status_code == status.HTTP_404_NOT_FOUND:
        await fair_use_of(request).missed(client)
    return _forwarded(answer, public_status(answer.body) if answer.status_code == status.HTTP_200_OK else answer.body)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The public web page (Chinese, for phones) over the same lookups."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "public, max-age=300"})


@router.get("/read-model", tags=["operations"])
async def read_model(store: StoreDep) -> dict[str, str]:
    """This replica's read model: its id and how long its rebuild from the log took."""
    return await store.model_info()
