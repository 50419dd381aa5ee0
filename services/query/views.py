"""The public certificate lookup: free, no token, any province."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from shared.numbering import CertificateNumber, NumberError, is_legacy_number

from .store import CertificateStore

router = APIRouter(tags=["public lookup"])


class CertificateView(BaseModel):
    certificate_number: str
    holder_name: str
    id_type: str
    id_number_masked: str
    occupation_code: str
    occupation_name: str
    work_type: str | None
    level: int
    level_title: str
    organization_code: str
    organization_name: str
    province: str
    issued_on: str
    status: str


class LookupResult(BaseModel):
    data: list[CertificateView]
    count: int


def store_of(request: Request) -> CertificateStore:
    return request.app.state.certificate_store  # type: ignore[no-any-return]


def display(view: dict[str, Any]) -> CertificateView:
    view = dict(view)
    view["work_type"] = view.get("work_type") or "--"
    return CertificateView.model_validate(view)


@router.get("/certificates/{number}", response_model=CertificateView)
async def by_number(number: str, request: Request) -> CertificateView:
    """Looks a certificate up by its 22-character number (a legacy 16-digit number is accepted)."""
    text = number.strip().upper()
    if is_legacy_number(text):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{text} is a legacy 职业资格证书 number; none is on record")
    try:
        parsed = str(CertificateNumber.parse(text))
    except NumberError as error:
        raise HTTPException(422, detail=[{"field": "number", "reason": str(error)}]) from error
    view = await store_of(request).by_number(parsed)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {parsed} on record")
    return display(view)


@router.get("/certificates", response_model=LookupResult)
async def by_holder(
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=60, description="holder's name, required")],
    id_number: Annotated[str, Query(min_length=6, max_length=32, description="holder's ID number, required")],
) -> LookupResult:
    """Looks certificates up by name plus ID number; both are required, so neither can be enumerated."""
    views = await store_of(request).by_holder(name, id_number)
    return LookupResult(data=[display(v) for v in views], count=len(views))
