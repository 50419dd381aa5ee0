"""Certificates HTTP API. The public lookup across provinces is the query service's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from shared.auth import Principal, Role, require_role
from shared.numbering import CertificateNumber, NumberError
from shared.service import RuntimeDep, SessionDep

from . import service
from .models import CertificatePublic, CertificatesPublic

router = APIRouter(tags=["certificates"])

Reader = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.ORG_OPERATOR, Role.INSPECTOR)]


@router.get("/certificates/{number}", response_model=CertificatePublic)
def read_certificate(number: str, session: SessionDep, runtime: RuntimeDep) -> CertificatePublic:
    """One certificate of this province, ID number masked. No token: it is public."""
    try:
        parsed = CertificateNumber.parse(number)
    except NumberError as error:
        raise HTTPException(422, detail=[{"field": "number", "reason": str(error)}]) from error
    certificate = service.get_certificate(session=session, number=str(parsed))
    if certificate is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no certificate {parsed} issued in this province")
    return service.to_public(certificate, runtime.settings.public_base_url)


@router.get("/certificates", response_model=CertificatesPublic)
def list_certificates(
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Reader,
    batch_id: str | None = None,
    organization_code: str | None = None,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CertificatesPublic:
    """Certificates by batch or organization; an operator sees only its own organization's."""
    if principal.role is Role.ORG_OPERATOR:
        organization_code = principal.organization
    certificates, count = service.list_certificates(
        session=session, batch_id=batch_id, organization_code=organization_code, skip=skip, limit=limit
    )
    base = runtime.settings.public_base_url
    return CertificatesPublic(data=[service.to_public(c, base) for c in certificates], count=count)
