"""The public lookup: free, no token, every province; certificates, the organization catalogue, batch plans,
verification of an electronic certificate, and the web page that uses them. Served from Redis only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response

from shared.platform.deps import TodayDep, lookup_number

from .deps import SettingsDep, StoreDep, fair_use_of, store_of
from .models import CertificateView, LookupResult, Page, Verification, summary

router = APIRouter(tags=["public lookup"])
PAGE = Path(__file__).parent / "page" / "index.html"


async def admitted_client(request: Request) -> str | None:
    """Counts the lookup against the client's share (429 past it); the client, None for a partner system."""
    fair_use = fair_use_of(request)
    client = fair_use.client(request)
    await fair_use.admit(client)
    return client


Client = Annotated[str | None, Depends(admitted_client)]


def json_response(document: bytes) -> Response:
    # Documents are stored as validated CertificateView JSON: served as they are, not validated again.
    return Response(document, media_type="application/json")


@router.get("/certificates/{number}", response_model=CertificateView)
async def by_number(number: str, request: Request) -> Response:
    """Looks a certificate up by its 22-character number (a legacy 16-digit number is accepted)."""
    # The busiest route calls its checks itself: FastAPI's dependency solving would cost a tenth of the request.
    client = await admitted_client(request)
    store = store_of(request)
    # Every number on record met the national rule when it was issued, so the rule is applied only to a number
    # that is not found as typed: for the 422 naming the fault, a legacy number, or its normal form (case,
    # spaces, full-width digits) looked up again.
    documents = await store.documents([number])
    if not documents:
        normalized = await lookup_number(number)
        if normalized != number:
            documents = await store.documents([normalized])
        if not documents:
            await fair_use_of(request).missed(client)
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {normalized} on record")
    return json_response(documents[0])


@router.get("/certificates", response_model=LookupResult)
async def by_holder(
    request: Request,
    client: Client,
    name: Annotated[str, Query(min_length=1, max_length=60, description="holder's name, required")],
    id_number: Annotated[str, Query(min_length=6, max_length=32, description="holder's ID number, required")],
) -> Response:
    """Looks certificates up by name plus ID number; both are required, so neither can be enumerated."""
    store = store_of(request)
    documents = await store.documents(await store.holder_numbers(name, id_number))
    if not documents:
        await fair_use_of(request).missed(client)
    return json_response(b'{"data":[' + b",".join(documents) + b'],"count":%d}' % len(documents))


@router.post("/verifications", response_model=Verification)
async def verify_credential(request: Request, store: StoreDep, settings: SettingsDep, _client: Client) -> Verification:
    """Verifies an uploaded electronic certificate (the W3C credential JSON the holder received)."""
    body = await request.body()
    if len(body) > settings.max_upload_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "an electronic certificate is far smaller than this")
    try:
        credential = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["body"], "msg": f"not JSON: {error}", "type": "json_invalid"}],
        ) from error
    if not isinstance(credential, dict) or "credentialSubject" not in credential:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                {
                    "loc": ["body", "credentialSubject"],
                    "msg": "not an electronic skill certificate (no credentialSubject)",
                    "type": "missing",
                }
            ],
        )
    return Verification.model_validate(summary(await store.verify_uploaded(credential)))


def _matches(entry: dict[str, Any], text: str | None, *fields: str) -> bool:
    return not text or any(text.lower() in str(entry.get(name, "")).lower() for name in fields)


def _page(entries: list[dict[str, Any]], offset: int, limit: int) -> Page:
    return Page(data=entries[offset : offset + limit], count=len(entries))


Offset = Annotated[int, Query(ge=0, le=100_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
Province = Annotated[str | None, Query(pattern=r"^\d{2}$", description="GB/T 2260 province code")]
Text = Annotated[str | None, Query(max_length=60)]


@router.get("/organizations", response_model=Page)
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
    return _page(entries, offset, limit)


@router.get("/batch-plans", response_model=Page)
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


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The public web page (Chinese, for phones) over the same lookups."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "public, max-age=300"})


@router.get("/read-model", tags=["operations"])
async def read_model(store: StoreDep) -> dict[str, str]:
    """This replica's read model: its id and how long its rebuild from the log took."""
    return await store.model_info()
