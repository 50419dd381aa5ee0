"""The public lookup: free, no token, every province; certificates, the organization catalogue, batch plans,
verification of an electronic certificate, and the web page that uses them. Served from Redis only."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from shared.service import LookupNumber

from .fair_use import FairUse, blocked
from .store import CertificateStore, status_check

router = APIRouter(tags=["public lookup"])
PAGE = Path(__file__).parent / "page" / "index.html"


class Check(BaseModel):
    name: str = Field(description="integrity, signature, organization or status")
    passed: bool | None = Field(description="None: could not be checked (yet)")
    detail: str


class Verification(BaseModel):
    verified: bool | None = Field(description="True when every check passed; False when one failed; None when "
                                              "one could not be checked yet")
    checks: list[Check]

    @classmethod
    def of(cls, checks: list[dict[str, Any]]) -> Verification:
        results = [Check.model_validate(c) for c in checks]
        passed = [c.passed for c in results]
        verified = False if False in passed else (True if passed and all(passed) else None)
        return cls(verified=verified, checks=results)


class CertificateView(BaseModel):
    certificate_number: str
    holder_name: str
    id_type: str
    id_number_masked: str
    occupation_code: str
    occupation_name: str
    work_type: str
    level: int
    level_title: str
    organization_code: str = Field(description="the issuing organization's filing code")
    organization_name: str
    province: str
    issued_on: str
    status: str = Field(description="valid, or revoked")
    revoked_on: str | None = None
    revocation_reason: str | None = Field(default=None, description="fraud or error")
    verification: Verification


class LookupResult(BaseModel):
    data: list[CertificateView]
    count: int


class Page(BaseModel):
    data: list[dict[str, Any]]
    count: int = Field(description="matches in all, of which `data` is one page")


def store_of(request: Request) -> CertificateStore:
    return request.app.state.certificate_store  # type: ignore[no-any-return]


def fair_use_of(request: Request) -> FairUse:
    return request.app.state.fair_use  # type: ignore[no-any-return]


async def admitted_client(request: Request) -> str | None:
    """Counts the lookup against the client's share (429 past it); the client, None for a partner system."""
    fair_use = fair_use_of(request)
    client = fair_use.client(request)
    await fair_use.admit(client)
    return client


Client = Annotated[str | None, Depends(admitted_client)]


def display(view: dict[str, Any]) -> CertificateView:
    view = dict(view)
    view["work_type"] = view.get("work_type") or "--"
    view["verification"] = Verification.of([*view.get("verification", []), status_check(view)])
    return CertificateView.model_validate(view)


@router.get("/certificates/{number}", response_model=CertificateView)
async def by_number(number: LookupNumber, request: Request, client: Client) -> CertificateView:
    """Looks a certificate up by its 22-character number (a legacy 16-digit number is accepted)."""
    fair_use = fair_use_of(request)
    view, block = await store_of(request).by_number(
        number, client_block=fair_use.block_key(client) if client else None)
    blocked(block)
    if view is None:
        await fair_use.missed(client)
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {number} on record")
    return display(view)


@router.get("/certificates", response_model=LookupResult)
async def by_holder(
    request: Request,
    client: Client,
    name: Annotated[str, Query(min_length=1, max_length=60, description="holder's name, required")],
    id_number: Annotated[str, Query(min_length=6, max_length=32, description="holder's ID number, required")],
) -> LookupResult:
    """Looks certificates up by name plus ID number; both are required, so neither can be enumerated."""
    store, fair_use = store_of(request), fair_use_of(request)
    if client is not None:
        blocked(await store.redis.get(fair_use.block_key(client)))
    views = await store.views(await store.holder_numbers(name, id_number))
    if not views:
        await fair_use.missed(client)
    return LookupResult(data=[display(v) for v in views], count=len(views))


@router.post("/verifications", response_model=Verification)
async def verify_credential(request: Request, _client: Client) -> Verification:
    """Verifies an uploaded electronic certificate (the W3C credential JSON the holder received)."""
    body = await request.body()
    if len(body) > request.app.state.max_upload_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "an electronic certificate is far smaller than this")
    try:
        credential = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body"], "msg": f"not JSON: {error}", "type": "json_invalid"}]) from error
    if not isinstance(credential, dict) or "credentialSubject" not in credential:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [{
            "loc": ["body", "credentialSubject"], "msg": "not an electronic skill certificate (no credentialSubject)",
            "type": "missing"}])
    return Verification.of(await store_of(request).verify_uploaded(credential))


def _matches(entry: dict[str, Any], text: str | None, *fields: str) -> bool:
    return not text or any(text.lower() in str(entry.get(name, "")).lower() for name in fields)


def _page(entries: list[dict[str, Any]], offset: int, limit: int) -> Page:
    return Page(data=entries[offset:offset + limit], count=len(entries))


Offset = Annotated[int, Query(ge=0, le=100_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
Province = Annotated[str | None, Query(pattern=r"^\d{2}$", description="GB/T 2260 province code")]
Text = Annotated[str | None, Query(max_length=60)]


@router.get("/organizations", response_model=Page)
async def organizations(
    request: Request, _client: Client, q: Annotated[Text, Query(description="part of the name or filing code")] = None,
    province: Province = None, occupation: Annotated[Text, Query(description="occupation code or name")] = None,
    filed_only: bool = True, offset: Offset = 0, limit: Limit = 20,
) -> Page:
    """The catalogue of filed evaluation organizations of every province, their occupations and levels."""
    entries = [
        entry for entry in await store_of(request).catalogue("organizations")
        if (not province or entry.get("province") == province) and _matches(entry, q, "name", "filing_code")
        and (not filed_only or entry.get("status") == "filed")
        and (not occupation or any(_matches(item, occupation, "occupation_code", "occupation_name")
                                   for item in entry.get("scope") or []))
    ]
    entries.sort(key=lambda e: (e.get("province", ""), e.get("filing_code", "")))
    return _page(entries, offset, limit)


@router.get("/batch-plans", response_model=Page)
async def batch_plans(
    request: Request, _client: Client, year: Annotated[int | None, Query(ge=2019, le=2100)] = None,
    province: Province = None, q: Annotated[Text, Query(description="organization, occupation or city")] = None,
    offset: Offset = 0, limit: Limit = 20,
) -> Page:
    """The year's approved recognition batches of every province (this year unless `year` says otherwise)."""
    year = year or date.today().year
    entries = [
        plan for plan in await store_of(request).catalogue("batch-plans")
        if plan["exam_starts_on"].startswith(str(year)) and (not province or plan.get("province") == province)
        and _matches(plan, q, "organization_name", "organization_code", "occupation_name", "occupation_code",
                     "site_city")
    ]
    entries.sort(key=lambda p: (p["exam_starts_on"], p["batch_id"]))
    return _page(entries, offset, limit)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page() -> HTMLResponse:
    """The public web page (Chinese, for phones) over the same lookups."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "public, max-age=300"})


@router.get("/read-model", tags=["operations"])
async def read_model(request: Request) -> dict[str, str]:
    """This replica's read model: its id and how long its rebuild from the log took."""
    return await store_of(request).model_info()
