"""Certificates HTTP API: this province's certificates, their credentials and PDFs, revocation, the status
list, the trust list and verification. The public lookup across provinces is the query service's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, Response

from shared.kernel.credentials import TrustList
from shared.kernel.errors import NotFound
from shared.platform.auth import Actor, Principal, Role
from shared.platform.deps import LookupNumber, Skip, UnitDep

from . import pdf, service, signing
from .deps import HolderChannel, Official, Operator, Reader, SettingsDep
from .models import (
    Certificate,
    CertificatePublic,
    CertificateRevocation,
    CertificatesPublic,
    RetentionPublic,
    RevocationCreate,
    VerificationCheck,
    VerificationPublic,
)

router = APIRouter(tags=["certificates"])


def _own(certificate: Certificate, principal: Principal) -> None:
    """An operator reaches only its own organization's certificates (they carry full ID numbers)."""
    if principal.role is Role.ORG_OPERATOR and principal.organization != certificate.organization_code:
        raise NotFound(f"no certificate {certificate.number} of organization {principal.organization}")


@router.get("/certificates/{number}", response_model=CertificatePublic)
def read_certificate(number: LookupNumber, unit: UnitDep, settings: SettingsDep) -> CertificatePublic:
    """One certificate of this province, ID number masked, with its status. No token: it is public."""
    certificate, _signed = service.get_signed(unit=unit, number=number)
    return service.to_public(certificate, settings, service.revoked_on(unit=unit, number=number))


@router.get("/certificates", response_model=CertificatesPublic)
def list_certificates(
    unit: UnitDep,
    settings: SettingsDep,
    principal: Reader,
    batch_id: str | None = None,
    organization_code: str | None = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CertificatesPublic:
    """Certificates by batch or organization; an operator sees only its own organization's."""
    if principal.role is Role.ORG_OPERATOR:
        organization_code = principal.organization
    certificates, count = service.list_certificates(
        unit=unit, batch_id=batch_id, organization_code=organization_code, skip=skip, limit=limit
    )
    data = [service.to_public(c, settings, service.revoked_on(unit=unit, number=c.number)) for c in certificates]
    return CertificatesPublic(data=data, count=count)


@router.get("/certificates/{number}/credential")
def read_credential(
    number: LookupNumber, unit: UnitDep, settings: SettingsDep, principal: HolderChannel
) -> dict[str, Any]:
    """The signed electronic certificate (W3C Verifiable Credential) for delivery to its holder."""
    certificate, signed = service.get_signed(unit=unit, number=number)
    _own(certificate, principal)
    return service.credential_of(certificate, signed, settings)


@router.get(
    "/certificates/{number}/pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}}
)
def read_pdf(number: LookupNumber, unit: UnitDep, principal: HolderChannel) -> Response:
    """The certificate on A4, for printing; a revoked certificate is marked 已撤销."""
    certificate, _signed = service.get_signed(unit=unit, number=number)
    _own(certificate, principal)
    body = pdf.render(certificate, revoked_on=service.revoked_on(unit=unit, number=number))
    return Response(
        body, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{number}.pdf"'}
    )


@router.put("/certificates/{number}/photo", status_code=204)
async def set_photo(number: LookupNumber, request: Request, unit: UnitDep, principal: Operator) -> None:
    """The holder's photo (JPEG or PNG, at most 2 MB), set once by the issuing organization."""
    body = await request.body()
    service.check_photo(body)  # a bad image is refused before anything is looked up
    certificate, _signed = service.get_signed(unit=unit, number=number)
    _own(certificate, principal)
    service.set_photo(unit=unit, certificate=certificate, photo=body)


@router.post("/certificates/{number}/revocation", response_model=CertificateRevocation)
def revoke_certificate(
    number: LookupNumber, revocation: RevocationCreate, unit: UnitDep, settings: SettingsDep, principal: Official
) -> CertificateRevocation:
    """Revokes a certificate for fraud or error [L26, L28]: the record stays, the status turns public."""
    return service.revoke(unit=unit, number=number, revocation=revocation, actor=Actor.of(principal))


@router.get("/status-lists/{province}/{list_number}")
def read_status_list(
    province: str,
    list_number: Annotated[int, Path(ge=0, le=1_000_000, description="the list's number, from 0")],
    unit: UnitDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """This province's revocation list (W3C Bitstring Status List), signed. No token: it is public."""
    if province != settings.province or list_number < 0:
        raise NotFound(f"this service publishes only province {settings.province}'s status lists")
    return service.status_list_credential(unit=unit, list_number=list_number)


@router.get("/trust-list", response_model=TrustList)
def read_trust_list(unit: UnitDep) -> TrustList:
    """Every province's certificate signing keys known here, with the days each signed. Public."""
    return service.trust_list(unit=unit)


@router.post("/signing-keys/rotation", response_model=TrustList)
def rotate_signing_key(unit: UnitDep, settings: SettingsDep, _official: Official) -> TrustList:
    """Retires the province's signing key and starts a new one; both go on the trust list."""
    signing.rotate(unit=unit)
    return service.trust_list(unit=unit)


@router.post("/verify", response_model=VerificationPublic)
def verify_credential(
    credential: Annotated[dict[str, Any], Body(description="a credential as issued")], unit: UnitDep
) -> VerificationPublic:
    """Checks a credential of any province: integrity, signature against the trust list on the issue date,
    revocation status, and the organization's filing for that occupation and level on that date."""
    result = service.verify(unit=unit, credential=credential)
    return VerificationPublic(
        certificate_number=result.certificate_number,
        verified=result.verified,
        checks=[VerificationCheck(name=c.name, passed=c.passed, detail=c.detail) for c in result.checks],
    )


@router.get("/records/retention", response_model=RetentionPublic)
def read_retention(unit: UnitDep, _official: Official) -> RetentionPublic:
    """What is kept and how the database enforces it."""
    return service.retention_summary(unit=unit)
