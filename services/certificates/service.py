"""Certificate issuing, signing, revocation and verification (plain keyword-only functions over a session).

Each part of an approved batch (recognition sends 500 candidates a part) is issued as it arrives, in its own
transaction: numbers (gap-free, per organization, year and level) and status-list bits, each certificate's
salted claims, a Merkle tree over the part's certificates and one Ed25519 signature over its root, then each
certificate with its Merkle path and a `certificate issued` event carrying its credential, inserted in bulk.
Memory is one part's, however large the batch; the relay publishes a part while the next is being issued.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import insert
from sqlmodel import col, func, select

from shared.kernel import credentials, filing
from shared.kernel.clock import utcnow
from shared.kernel.credentials import RevocationStatus, StatusEntry, TrustedKey, TrustList
from shared.kernel.errors import Conflict, FieldError, NotFound
from shared.kernel.events import (
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    BatchResultCorrected,
    BatchResultsApproved,
    CertificateIssued,
    CertificateRevoked,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    PassedCandidate,
    SigningKeyPublished,
)
from shared.kernel.numbering import MAX_SERIAL, CertificateNumber, FilingCode, Level
from shared.kernel.privacy import mask_id_number
from shared.platform.auth import Actor
from shared.platform.db import fetch
from shared.platform.sequences import next_values
from shared.platform.unit import Unit

from . import signing
from .models import (
    KEPT_TABLES,
    BatchIssue,
    Certificate,
    CertificatePublic,
    CertificateRevocation,
    CertificateStatus,
    OrganizationRecord,
    RetentionPublic,
    RevocationCreate,
    SignedBatch,
    SigningKey,
)
from .retention import MINIMUM_YEARS, POLICY
from .settings import CertificatesSettings

MAX_PHOTO_BYTES = 2 * 1024 * 1024
# What a batch's certificates share, taken from the approval (or from a sibling certificate for a correction).
BATCH_DETAILS = {
    "batch_id",
    "organization_code",
    "organization_name",
    "occupation_code",
    "occupation_name",
    "work_type",
    "level",
}

NO_WORK_TYPE = "--"  # 人社鉴发〔2021〕1号: a certificate without work type or direction shows --
BODY_TEXT = "持证人经职业技能等级认定，技能水平达到本证书所载职业（工种）等级，特发此证。"


def serial_counter(organization_code: str, year: int, level: int) -> str:
    """Serials run per organization, year of issue and level (positions 1-16 of the number)."""
    return f"serial:{organization_code}:{year:02d}:{level}"


def status_counter(province: str) -> str:
    return f"status-list:{province}"


def status_list_url(settings: CertificatesSettings, list_number: int) -> str:
    return f"{settings.public_base_url.rstrip('/')}/status-lists/{settings.province}/{list_number}"


def lookup_url(settings: CertificatesSettings, number: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/certificates/{number}"


# --- issuing -------------------------------------------------------------------------------------


def receive_batch_part(
    *,
    unit: Unit[CertificatesSettings],
    approved: BatchResultsApproved,
) -> list[str]:
    """Numbers, signs and announces this part's passing candidates: each part is issued as it arrives, so a large
    batch's certificates reach the public lookup while its later parts are still being issued."""
    progress = unit.session.get(BatchIssue, approved.batch_id) or BatchIssue(
        batch_id=approved.batch_id, parts=approved.parts
    )
    if approved.part in progress.received_parts:
        return []  # the same part again (a new event id for a resent part): nothing twice
    numbers = _issue(
        unit=unit,
        details=approved.model_dump(include=BATCH_DETAILS),
        candidates=approved.passed,
        signed_id=f"{approved.batch_id}/part-{approved.part}",
    )
    progress.received_parts = sorted([*progress.received_parts, approved.part])
    unit.session.add(progress)
    return numbers


def _issue(
    *,
    unit: Unit[CertificatesSettings],
    details: dict[str, Any],
    candidates: list[PassedCandidate],
    signed_id: str,
) -> list[str]:
    """Issues a certificate to each of the candidates not yet certified: numbers (one block of serials and one of
    status bits), salted claims, one Merkle tree and one signature over them all (`signed_id`), the rows inserted
    in bulk with their Merkle paths, and their `certificate issued` events added to the outbox in bulk."""
    settings = unit.settings
    batch_id = details["batch_id"]
    already = set(
        unit.session.exec(
            select(Certificate.candidate_id).where(
                Certificate.batch_id == batch_id,
                col(Certificate.candidate_id).in_([c.candidate_id for c in candidates]),
            )
        )
    )
    candidates = [c for c in candidates if c.candidate_id not in already]
    if not candidates:
        return []
    organization = FilingCode.parse(details["organization_code"])
    level = Level(details["level"])
    year = unit.today.year % 100
    serials = next_values(
        unit.session, serial_counter(str(organization), year, level), len(candidates), maximum=MAX_SERIAL
    )
    positions = next_values(unit.session, status_counter(settings.province), len(candidates), maximum=2**31 - 1)
    base = settings.public_base_url.rstrip("/")
    rows: list[dict[str, Any]] = []
    for candidate, serial, position in zip(candidates, serials, positions, strict=True):
        number = str(CertificateNumber(organization, year, level, serial))
        list_number, index = credentials.status_list_position(position)
        status_list = status_list_url(settings, list_number)
        claims: dict[str, Any] = {
            "certificateNumber": number,
            "title": credentials.CERTIFICATE_TITLE,
            "body": BODY_TEXT,
            "holderName": candidate.name,
            "idType": candidate.id_type,
            "idNumber": candidate.id_number,
            "occupationCode": details["occupation_code"],
            "occupationName": details["occupation_name"],
            "workType": details["work_type"] or NO_WORK_TYPE,
            "level": int(level),
            "levelTitle": level.title,
            "organizationCode": details["organization_code"],
            "organizationName": details["organization_name"],
            "province": settings.province,
            "issuedOn": unit.today.isoformat(),
            "lookupUrl": lookup_url(settings, number),
            "organizationLookupUrl": f"{base}/organizations/{details['organization_code']}",
            "statusListCredential": status_list,
            "statusListIndex": index,
        }
        salts = credentials.new_salts(claims)
        rows.append(
            {
                "number": number,
                "holder_name": candidate.name,
                "id_type": candidate.id_type,
                "id_number": candidate.id_number,
                "occupation_code": details["occupation_code"],
                "occupation_name": details["occupation_name"],
                "work_type": details["work_type"],
                "level": int(level),
                "level_title": level.title,
                "organization_code": details["organization_code"],
                "organization_name": details["organization_name"],
                "province": settings.province,
                "issued_on": unit.today,
                "status": CertificateStatus.VALID.name,
                "batch_id": batch_id,
                "candidate_id": candidate.candidate_id,
                "status_list": status_list,
                "status_index": index,
                "claims": claims,
                "salts": salts,
                "target_hash": credentials.salted_target_hash(claims, salts),
                "merkle_proof": [],
                "signed_batch_id": signed_id,
                "photo": None,
                "created_at": utcnow(),
            }
        )
    rows.sort(key=lambda row: row["number"])
    key = signing.current_key(unit=unit)
    tree = credentials.MerkleTree([bytes.fromhex(row["target_hash"]) for row in rows])
    signed = SignedBatch(
        id=signed_id,
        batch_id=batch_id,
        merkle_root=tree.root.hex(),
        key_id=key.key_id,
        signature=credentials.sign_root(signing.private_key(settings, key.key_id), tree.root),
        certificates=len(rows),
        signed_at=datetime.now(UTC).replace(microsecond=0),
    )
    for position, row in enumerate(rows):
        row["merkle_proof"] = tree.proof(position)
    unit.session.add(signed)
    unit.session.flush()
    unit.session.connection().execute(insert(Certificate.__table__), rows)  # type: ignore[attr-defined]
    unit.emit_many(
        CERTIFICATE_ISSUED,
        ((row["number"], _issued(row, signed, settings)) for row in rows),
    )
    return [row["number"] for row in rows]


def _issued(row: dict[str, Any], signed: SignedBatch, settings: CertificatesSettings) -> CertificateIssued:
    return CertificateIssued(
        certificate_number=row["number"],
        holder_name=row["holder_name"],
        id_type=row["id_type"],
        id_number=row["id_number"],
        occupation_code=row["occupation_code"],
        occupation_name=row["occupation_name"],
        work_type=row["work_type"],
        level=row["level"],
        level_title=row["level_title"],
        organization_code=row["organization_code"],
        organization_name=row["organization_name"],
        province=row["province"],
        issued_on=row["issued_on"],
        batch_id=row["batch_id"],
        status_list=row["status_list"],
        status_index=row["status_index"],
        credential=_credential(
            claims=row["claims"],
            salts=row["salts"],
            target=row["target_hash"],
            status=StatusEntry(row["status_list"], row["status_index"]),
            merkle_proof=row["merkle_proof"],
            signed=signed,
            settings=settings,
        ),
    )


def credential_of(certificate: Certificate, signed: SignedBatch, settings: CertificatesSettings) -> dict[str, Any]:
    return _credential(
        claims=certificate.claims,
        salts=certificate.salts,
        target=certificate.target_hash,
        status=StatusEntry(certificate.status_list, certificate.status_index),
        merkle_proof=certificate.merkle_proof,
        signed=signed,
        settings=settings,
    )


def _credential(
    *,
    claims: dict[str, Any],
    salts: dict[str, str],
    target: str,
    status: StatusEntry,
    merkle_proof: list[str],
    signed: SignedBatch,
    settings: CertificatesSettings,
) -> dict[str, Any]:
    return credentials.credential_document(
        claims=claims,
        salts=salts,
        target=target,
        status=status,
        issuer_name=settings.policy.department,
        key_id=signed.key_id,
        merkle_root=signed.merkle_root,
        merkle_proof=merkle_proof,
        signature=signed.signature,
        signed_at=signed.signed_at.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
    )


def apply_correction(
    *,
    unit: Unit[CertificatesSettings],
    correction: BatchResultCorrected,
) -> Certificate | None:
    """A result corrected after approval: a newly passing candidate is certified (signed alone); one who no
    longer passes has the certificate revoked for error. Both keep the full record."""
    existing = unit.session.exec(
        select(Certificate).where(
            Certificate.batch_id == correction.batch_id, Certificate.candidate_id == correction.candidate.candidate_id
        )
    ).first()
    if correction.passed_now and existing is None:
        sibling = unit.session.exec(select(Certificate).where(Certificate.batch_id == correction.batch_id)).first()
        if sibling is None:
            raise NotFound(f"batch {correction.batch_id} has no certificates here to take the details from")
        details = sibling.model_dump(include=BATCH_DETAILS)
        [number] = _issue(
            unit=unit,
            details=details,
            candidates=[correction.candidate],
            signed_id=f"{correction.batch_id}/correction-{correction.correction_id}",
        )
        return unit.session.get(Certificate, number)
    if not correction.passed_now and existing is not None and existing.status is CertificateStatus.VALID:
        revoke(
            unit=unit,
            number=existing.number,
            actor=Actor(correction.corrected_by, "province_official"),
            revocation=RevocationCreate(
                reason="error",
                detail=f"result corrected (correction {correction.correction_id}): {correction.reason}",
                revoked_on=unit.today,
            ),
        )
        return existing
    return None


# --- revocation and status -----------------------------------------------------------------------


def revoke(
    *,
    unit: Unit[CertificatesSettings],
    number: str,
    revocation: RevocationCreate,
    actor: Actor,
) -> CertificateRevocation:
    settings = unit.settings
    # Locked: two officials revoking at once revoke once, and the second is told it is revoked already.
    certificate = fetch(unit.session, Certificate, number, lock=unit.changing)
    if certificate is None or certificate.province != settings.province:
        raise NotFound(f"no certificate {number} issued in province {settings.province}")
    if certificate.status is CertificateStatus.REVOKED:
        raise Conflict(f"certificate {number} is already revoked")
    revoked_on = revocation.revoked_on or unit.today
    if revoked_on > unit.today:
        raise FieldError("revoked_on", f"{revoked_on} is in the future (today is {unit.today})")
    if revoked_on < certificate.issued_on:
        raise FieldError("revoked_on", f"{revoked_on} is before the issue date {certificate.issued_on}")
    certificate.status = CertificateStatus.REVOKED
    unit.session.add(certificate)
    payload = CertificateRevoked(
        certificate_number=number,
        province=settings.province,
        reason=revocation.reason,
        detail=revocation.detail,
        revoked_on=revoked_on,
        revoked_by=actor.subject,
        status_list=certificate.status_list,
        status_index=certificate.status_index,
    )
    record = record_revocation(unit=unit, revoked=payload)
    unit.emit(CERTIFICATE_REVOKED, subject=number, payload=payload)
    return record


def record_revocation(*, unit: Unit[CertificatesSettings], revoked: CertificateRevoked) -> CertificateRevocation:
    """Keeps a revocation of any province; a repeated announcement changes nothing."""
    existing = unit.session.get(CertificateRevocation, revoked.certificate_number)
    if existing is not None:
        return existing
    record = CertificateRevocation(
        certificate_number=revoked.certificate_number,
        province=revoked.province,
        reason=revoked.reason,
        detail=revoked.detail,
        revoked_on=revoked.revoked_on,
        revoked_by=revoked.revoked_by,
        status_list=revoked.status_list,
        status_index=revoked.status_index,
    )
    unit.session.add(record)
    return record


def status_list_credential(
    *,
    unit: Unit[CertificatesSettings],
    list_number: int,
) -> dict[str, Any]:
    """This province's W3C Bitstring Status List, signed with its current key."""
    settings = unit.settings
    url = status_list_url(settings, list_number)
    indexes = unit.session.exec(
        select(CertificateRevocation.status_index).where(CertificateRevocation.status_list == url)
    )
    key = signing.current_key(unit=unit)
    document: dict[str, Any] = {
        "@context": [credentials.VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": f"urn:skillcert:province:{settings.province}", "name": settings.policy.department},
        "validFrom": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": credentials.encode_status_list(indexes),
        },
    }
    document["proof"] = signing.sign_document(settings, key, document)
    return document


def status_of(*, unit: Unit[CertificatesSettings], number: str, entry: StatusEntry) -> RevocationStatus | None:
    """From this service's records: its own certificates, and every province's announced revocations."""
    revoked = unit.session.get(CertificateRevocation, number)
    if revoked is not None:
        if (revoked.status_list, revoked.status_index) != (entry.list_url, entry.index):
            return RevocationStatus(True, revoked.revoked_on, "revoked (the credential points at another status bit)")
        return RevocationStatus(True, revoked.revoked_on, f"{revoked.reason}: {revoked.detail}")
    own = unit.session.get(Certificate, number)
    if own is not None or unit.session.exec(select(SigningKey).where(SigningKey.province == number[5:7])).first():
        return RevocationStatus(False)
    return None


# --- filing records ------------------------------------------------------------------------------


def record_filing(*, unit: Unit[CertificatesSettings], filed: OrganizationFiled) -> None:
    unit.session.add(
        OrganizationRecord(
            filing_code=filed.filing_code,
            effective_on=filed.filed_on,
            kind="filed",
            status="filed",
            scope=[item.model_dump() for item in filed.scope],
            filed_on=filed.filed_on,
            valid_until=filed.valid_until,
        )
    )


def record_status_change(*, unit: Unit[CertificatesSettings], changed: OrganizationStatusChanged, on: date) -> None:
    if changed.filing_code is None:
        return  # an application before filing
    unit.session.add(
        OrganizationRecord(
            filing_code=changed.filing_code,
            effective_on=on,
            kind="status",
            status=changed.to_status,
            valid_until=changed.valid_until,
        )
    )


def record_scope_change(*, unit: Unit[CertificatesSettings], changed: OrganizationScopeChanged, on: date) -> None:
    unit.session.add(
        OrganizationRecord(
            filing_code=changed.filing_code,
            effective_on=on,
            kind="scope",
            scope=[item.model_dump() for item in changed.scope],
        )
    )


def filing_check(
    *,
    unit: Unit[CertificatesSettings],
    organization_code: str,
    occupation_code: str,
    level: int,
    on: date,
) -> tuple[bool, str] | None:
    """Was the organization filed for this occupation and level on that day? None: no records of it here."""
    records = unit.session.exec(
        select(OrganizationRecord)
        .where(OrganizationRecord.filing_code == organization_code)
        .order_by(col(OrganizationRecord.effective_on), col(OrganizationRecord.id))
    )
    return filing.filing_check(
        records, organization_code=organization_code, occupation_code=occupation_code, level=level, on=on
    )


# --- verification and reading --------------------------------------------------------------------


def trust_list(*, unit: Unit[CertificatesSettings]) -> TrustList:
    keys = unit.session.exec(select(SigningKey).order_by(col(SigningKey.province), col(SigningKey.valid_from)))
    return TrustList(keys=[TrustedKey.model_validate(key, from_attributes=True) for key in keys])


def verify(*, unit: Unit[CertificatesSettings], credential: dict[str, Any]) -> credentials.Verification:
    return credentials.verify(
        credential,
        trust=trust_list(unit=unit),
        status=lambda number, entry: status_of(unit=unit, number=number, entry=entry),
        organization=lambda code, occupation, level, on: filing_check(
            unit=unit, organization_code=code, occupation_code=occupation, level=level, on=on
        ),
    )


def record_signing_key(*, unit: Unit[CertificatesSettings], published: SigningKeyPublished) -> None:
    key = unit.session.get(SigningKey, published.key_id) or SigningKey(
        key_id=published.key_id,
        province=published.province,
        public_key=published.public_key,
        valid_from=published.valid_from,
    )
    if key.public_key != published.public_key or key.province != published.province:
        raise Conflict(f"key {published.key_id} was published before with another public key or province")
    key.valid_until = published.valid_until
    key.updated_at = utcnow()
    unit.session.add(key)


def get_signed(*, unit: Unit[CertificatesSettings], number: str) -> tuple[Certificate, SignedBatch]:
    """A certificate of this province whose batch is signed (before that it is not issued yet)."""
    certificate = unit.session.get(Certificate, number)
    if certificate is None or certificate.signed_batch_id is None:
        raise NotFound(f"no certificate {number} issued in this province")
    signed = unit.session.get(SignedBatch, certificate.signed_batch_id)
    assert signed is not None
    return certificate, signed


def list_certificates(
    *,
    unit: Unit[CertificatesSettings],
    batch_id: str | None = None,
    organization_code: str | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[Certificate], int]:
    statement = select(Certificate).where(col(Certificate.signed_batch_id).is_not(None))
    if batch_id:
        statement = statement.where(Certificate.batch_id == batch_id)
    if organization_code:
        statement = statement.where(Certificate.organization_code == organization_code)
    count = unit.session.exec(select(func.count()).select_from(statement.subquery())).one()
    rows = unit.session.exec(statement.order_by(col(Certificate.number)).offset(skip).limit(limit))
    return list(rows), int(count)


def to_public(
    certificate: Certificate,
    settings: CertificatesSettings,
    revoked_on: date | None = None,
) -> CertificatePublic:
    return CertificatePublic.model_validate(
        certificate,
        update={
            "id_number_masked": mask_id_number(certificate.id_number),
            "lookup_url": lookup_url(settings, certificate.number),
            "revoked_on": revoked_on,
        },
    )


def revoked_on(*, unit: Unit[CertificatesSettings], number: str) -> date | None:
    record = unit.session.get(CertificateRevocation, number)
    return record.revoked_on if record else None


# --- the holder's photo and the records kept ---------------------------------------------------------


def check_photo(photo: bytes) -> None:
    """A JPEG or PNG of at most MAX_PHOTO_BYTES that reads as an image, or 422 saying why not."""
    if not photo or len(photo) > MAX_PHOTO_BYTES:
        raise FieldError("photo", f"send the image as the request body, 1 byte to {MAX_PHOTO_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(photo)) as image:
            image.verify()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise FieldError("photo", f"not a readable image: {error}") from error
    if kind not in ("JPEG", "PNG"):
        raise FieldError("photo", f"{kind} images are not accepted: JPEG or PNG")


def set_photo(*, unit: Unit[CertificatesSettings], certificate: Certificate, photo: bytes) -> None:
    """The holder's photo (checked by `check_photo`), set once: nothing accepted is replaced."""
    check_photo(photo)
    if certificate.photo is not None:
        raise Conflict(f"certificate {certificate.number} already has a photo; nothing accepted is replaced")
    certificate.photo = photo
    unit.session.add(certificate)


def retention_summary(*, unit: Unit[CertificatesSettings]) -> RetentionPublic:
    """What is kept and how the database enforces it."""
    session = unit.session
    return RetentionPublic(
        policy=POLICY,
        minimum_years=MINIMUM_YEARS,
        enforced_by="database triggers refuse DELETE (and TRUNCATE)",
        protected_tables=list(KEPT_TABLES),
        certificates=session.exec(select(func.count()).select_from(Certificate)).one(),
        revocations=session.exec(select(func.count()).select_from(CertificateRevocation)).one(),
        oldest_issue=session.exec(select(func.min(Certificate.issued_on))).one(),
    )
