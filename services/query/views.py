"""The public certificate lookup: free, no token, any province."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from shared.service import LookupNumber

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
    status: str = Field(description="valid, or revoked")
    revoked_on: str | None = None
    revocation_reason: str | None = Field(default=None, description="fraud or error")


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
async def by_number(number: LookupNumber, request: Request) -> CertificateView:
    """Looks a certificate up by its 22-character number (a legacy 16-digit number is accepted)."""
    view = await store_of(request).by_number(number)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {number} on record")
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
