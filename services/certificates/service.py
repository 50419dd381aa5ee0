"""Certificate issuing: one per passing candidate, numbered by the national rule, exactly once."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, func, select

from shared.events import CERTIFICATE_ISSUED, BatchResultsApproved, CertificateIssued
from shared.numbering import MAX_SERIAL, CertificateNumber, FilingCode, Level
from shared.outbox import record_event
from shared.privacy import mask_id_number
from shared.sequences import next_value

from .models import Certificate, CertificatePublic


def serial_counter(organization_code: str, year: int, level: int) -> str:
    """Serials run per organization, year of issue and level (positions 1-16 of the number)."""
    return f"serial:{organization_code}:{year:02d}:{level}"


def issue_for_batch(
    *, session: Session, approved: BatchResultsApproved, province: str, today: date | None = None
) -> list[Certificate]:
    """Issues certificates for the passing candidates not yet certified; records `certificate issued` each."""
    issued_on = today or date.today()
    already = set(
        session.exec(select(Certificate.candidate_id).where(Certificate.batch_id == approved.batch_id))
    )
    organization = FilingCode.parse(approved.organization_code)
    level = Level(approved.level)
    year = issued_on.year % 100
    issued: list[Certificate] = []
    for candidate in approved.passed:
        if candidate.candidate_id in already:
            continue
        serial = next_value(session, serial_counter(approved.organization_code, year, level), maximum=MAX_SERIAL)
        number = str(CertificateNumber(organization, year, level, serial))
        certificate = Certificate(
            number=number, holder_name=candidate.name, id_type=candidate.id_type, id_number=candidate.id_number,
            occupation_code=approved.occupation_code, occupation_name=approved.occupation_name,
            work_type=approved.work_type, level=level, level_title=level.title,
            organization_code=approved.organization_code, organization_name=approved.organization_name,
            province=province, issued_on=issued_on, batch_id=approved.batch_id, candidate_id=candidate.candidate_id,
        )
        session.add(certificate)
        payload = CertificateIssued(
            certificate_number=number, holder_name=certificate.holder_name, id_type=certificate.id_type,
            id_number=certificate.id_number, occupation_code=certificate.occupation_code,
            occupation_name=certificate.occupation_name, work_type=certificate.work_type, level=level,
            level_title=level.title, organization_code=certificate.organization_code,
            organization_name=certificate.organization_name, province=province, issued_on=issued_on,
            batch_id=approved.batch_id,
        )
        event = CERTIFICATE_ISSUED.make(province=province, subject=number, payload=payload)
        record_event(session, CERTIFICATE_ISSUED, event, key=number)
        issued.append(certificate)
    return issued


def get_certificate(*, session: Session, number: str) -> Certificate | None:
    return session.get(Certificate, number)


def list_certificates(
    *, session: Session, batch_id: str | None = None, organization_code: str | None = None,
    skip: int = 0, limit: int = 100,
) -> tuple[list[Certificate], int]:
    statement = select(Certificate)
    if batch_id:
        statement = statement.where(Certificate.batch_id == batch_id)
    if organization_code:
        statement = statement.where(Certificate.organization_code == organization_code)
    count = session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = session.exec(statement.order_by(col(Certificate.number)).offset(skip).limit(limit))
    return list(rows), int(count)


def to_public(certificate: Certificate, public_base_url: str) -> CertificatePublic:
    return CertificatePublic.model_validate(
        certificate,
        update={
            "id_number_masked": mask_id_number(certificate.id_number),
            "lookup_url": f"{public_base_url.rstrip('/')}/certificates/{certificate.number}",
        },
    )
