"""Certificates HTTP API: this province's certificates, their credentials and PDFs, revocation, the status
list, the trust list and verification. The public lookup across provinces is the query service's."""

from __future__ import annotations

import io
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from PIL import Image, UnidentifiedImageError
from sqlmodel import func, select

from shared.kernel.credentials import TrustList
from shared.kernel.errors import Conflict, FieldError, NotFound
from shared.platform.app import LookupNumber, RuntimeDep, SessionDep, TodayDep
from shared.platform.auth import Actor, Principal, Role, require_role

from . import pdf, service, signing
from .models import (
    KEPT_TABLES,
    Certificate,
    CertificatePublic,
    CertificateRevocation,
    CertificatesPublic,
    RetentionPublic,
    RevocationIn,
    VerificationCheck,
    VerificationPublic,
)
from .retention import MINIMUM_YEARS, POLICY
from .settings import CertificatesSettings

router = APIRouter(tags=["certificates"])

Reader = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.ORG_OPERATOR, Role.INSPECTOR)]
HolderChannel = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.ORG_OPERATOR)]
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
MAX_PHOTO_BYTES = 2 * 1024 * 1024


def settings_of(runtime: RuntimeDep) -> CertificatesSettings:
    assert isinstance(runtime.settings, CertificatesSettings)
    return runtime.settings


SettingsDep = Annotated[CertificatesSettings, Depends(settings_of)]


def _own(certificate: Certificate, principal: Principal) -> None:
    """An operator reaches only its own organization's certificates (they carry full ID numbers)."""
    if principal.role is Role.ORG_OPERATOR and principal.organization != certificate.organization_code:
        raise NotFound(f"no certificate {certificate.number} of organization {principal.organization}")


@router.get("/certificates/{number}", response_model=CertificatePublic)
def read_certificate(number: LookupNumber, session: SessionDep, settings: SettingsDep) -> CertificatePublic:
    """One certificate of this province, ID number masked, with its status. No token: it is public."""
    certificate, _signed = service.get_signed(session=session, number=number)
    return service.to_public(certificate, settings, service.revoked_on(session=session, number=number))


@router.get("/certificates", response_model=CertificatesPublic)
def list_certificates(
    session: SessionDep,
    settings: SettingsDep,
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
    data = [service.to_public(c, settings, service.revoked_on(session=session, number=c.number))
            for c in certificates]
    return CertificatesPublic(data=data, count=count)


@router.get("/certificates/{number}/credential")
def read_credential(number: LookupNumber, session: SessionDep, settings: SettingsDep,
                    principal: HolderChannel) -> dict[str, Any]:
    """The signed electronic certificate (W3C Verifiable Credential) for delivery to its holder."""
    certificate, signed = service.get_signed(session=session, number=number)
    _own(certificate, principal)
    return service.credential_of(certificate, signed, settings)


@router.get("/certificates/{number}/pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
def read_pdf(number: LookupNumber, session: SessionDep, principal: HolderChannel) -> Response:
    """The certificate on A4, for printing; a revoked certificate is marked 已撤销."""
    certificate, _signed = service.get_signed(session=session, number=number)
    _own(certificate, principal)
    body = pdf.render(certificate, revoked_on=service.revoked_on(session=session, number=number))
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{number}.pdf"'})


@router.put("/certificates/{number}/photo", status_code=204)
async def set_photo(number: LookupNumber, request: Request, session: SessionDep, principal: Operator) -> None:
    """The holder's photo (JPEG or PNG, at most 2 MB), set once by the issuing organization."""
    body = await request.body()
    if not body or len(body) > MAX_PHOTO_BYTES:
        raise FieldError("photo", f"send the image as the request body, 1 byte to {MAX_PHOTO_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(body)) as image:
            image.verify()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise FieldError("photo", f"not a readable image: {error}") from error
    if kind not in ("JPEG", "PNG"):
        raise FieldError("photo", f"{kind} images are not accepted: JPEG or PNG")
    certificate, _signed = service.get_signed(session=session, number=number)
    _own(certificate, principal)
    if certificate.photo is not None:
        raise Conflict(f"certificate {number} already has a photo; nothing accepted is replaced")
    certificate.photo = body
    session.add(certificate)
    session.commit()


@router.post("/certificates/{number}/revocation", response_model=CertificateRevocation)
def revoke_certificate(number: LookupNumber, revocation: RevocationIn, session: SessionDep, settings: SettingsDep,
                       today: TodayDep, principal: Official) -> CertificateRevocation:
    """Revokes a certificate for fraud or error [L26, L28]: the record stays, the status turns public."""
    record = service.revoke(session=session, number=number, revocation=revocation, actor=Actor.of(principal),
                            settings=settings, today=today)
    session.commit()
    session.refresh(record)
    return record


@router.get("/status-lists/{province}/{list_number}")
def read_status_list(province: str, list_number: int, session: SessionDep, settings: SettingsDep,
                     today: TodayDep) -> dict[str, Any]:
    """This province's revocation list (W3C Bitstring Status List), signed. No token: it is public."""
    if province != settings.province or list_number < 0:
        raise NotFound(f"this service publishes only province {settings.province}'s status lists")
    document = service.status_list_credential(session=session, settings=settings, list_number=list_number,
                                              today=today)
    session.commit()  # a first start may have created the signing key
    return document


@router.get("/trust-list", response_model=TrustList)
def read_trust_list(session: SessionDep) -> TrustList:
    """Every province's certificate signing keys known here, with the days each signed. Public."""
    return service.trust_list(session=session)


@router.post("/signing-keys/rotation", response_model=TrustList)
def rotate_signing_key(session: SessionDep, settings: SettingsDep, today: TodayDep, _official: Official) -> TrustList:
    """Retires the province's signing key and starts a new one; both go on the trust list."""
    signing.rotate(session=session, settings=settings, today=today)
    session.commit()
    return service.trust_list(session=session)


@router.post("/verify", response_model=VerificationPublic)
def verify_credential(credential: Annotated[dict[str, Any], Body(description="a credential as issued")],
                      session: SessionDep) -> VerificationPublic:
    """Checks a credential of any province: integrity, signature against the trust list on the issue date,
    revocation status, and the organization's filing for that occupation and level on that date."""
    result = service.verify(session=session, credential=credential)
    return VerificationPublic(
        certificate_number=result.certificate_number, verified=result.verified,
        checks=[VerificationCheck(name=c.name, passed=c.passed, detail=c.detail) for c in result.checks])


@router.get("/records/retention", response_model=RetentionPublic)
def read_retention(session: SessionDep, _official: Official) -> RetentionPublic:
    """What is kept and how the database enforces it."""
    return RetentionPublic(
        policy=POLICY, minimum_years=MINIMUM_YEARS, enforced_by="database triggers refuse DELETE (and TRUNCATE)",
        protected_tables=list(KEPT_TABLES),
        certificates=session.exec(select(func.count()).select_from(Certificate)).one(),
        revocations=session.exec(select(func.count()).select_from(CertificateRevocation)).one(),
        oldest_issue=session.exec(select(func.min(Certificate.issued_on))).one(),
    )
