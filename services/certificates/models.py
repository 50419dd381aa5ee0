"""Certificates, their signatures, revocations, the trust list and filing records. Nothing here is deleted:
the retention migration makes the database refuse it (electronic records are kept 5+ years [L23])."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import StringConstraints
from sqlmodel import JSON, Column, Field, SQLModel, UniqueConstraint

from shared.kernel.clock import utcnow
from shared.platform.idempotency import IdempotencyKey
from shared.platform.outbox import OutboxEvent, ProcessedEvent
from shared.platform.sequences import SequenceCounter


class CertificateStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"


class CertificateBase(SQLModel):
    number: str = Field(primary_key=True, max_length=22)
    holder_name: str
    id_type: str
    occupation_code: str
    occupation_name: str
    work_type: str | None = None
    level: int
    level_title: str
    organization_code: str = Field(index=True, max_length=13)
    organization_name: str
    province: str = Field(max_length=2)
    issued_on: date
    status: CertificateStatus = CertificateStatus.VALID


class Certificate(CertificateBase, table=True):
    # One certificate per candidate of a batch, however often the approval is delivered.
    __table_args__ = (UniqueConstraint("batch_id", "candidate_id"),)

    id_number: str
    batch_id: str = Field(index=True)
    candidate_id: str
    status_list: str = Field(description="URL of the status list holding this certificate's revocation bit")
    status_index: int
    claims: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False), description="exactly what is signed")
    salts: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    target_hash: str = Field(max_length=64)
    signed_batch_id: str | None = Field(default=None, index=True, description="the signature that covers it")
    merkle_proof: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    photo: bytes | None = Field(default=None, description="JPEG or PNG, set by the organization for the paper copy")
    created_at: datetime = Field(default_factory=utcnow)


class CertificatePublic(CertificateBase):
    id_number_masked: str
    lookup_url: str
    revoked_on: date | None = None


class CertificatesPublic(SQLModel):
    data: list[CertificatePublic]
    count: int


class SignedBatch(SQLModel, table=True):
    """One Ed25519 signature over the Merkle root of a batch part's certificates (or of one correction)."""

    __tablename__ = "signed_batch"

    id: str = Field(primary_key=True, description="<batch id>/part-<n>, or <batch id>/correction-<n>")
    batch_id: str = Field(index=True)
    merkle_root: str = Field(max_length=64)
    key_id: str
    signature: str
    certificates: int
    signed_at: datetime = Field(default_factory=utcnow)


class BatchIssue(SQLModel, table=True):
    """Which parts of an approved batch have been issued: a part sent again changes nothing."""

    __tablename__ = "batch_issue"

    batch_id: str = Field(primary_key=True)
    parts: int
    received_parts: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class SigningKey(SQLModel, table=True):
    """The trust list: every province's certificate signing keys, this province's own included."""

    __tablename__ = "signing_key"

    key_id: str = Field(primary_key=True, max_length=40)
    province: str = Field(max_length=2, index=True)
    public_key: str
    valid_from: date
    valid_until: date | None = None
    updated_at: datetime = Field(default_factory=utcnow)


RevocationReason = Literal["fraud", "error"]


class RevocationCreate(SQLModel):
    reason: RevocationReason = Field(description="fraud (obtained by deception) or error (issued by mistake)")
    detail: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=2000)]
    revoked_on: date | None = Field(default=None, description="defaults to today; not before the issue date")


class CertificateRevocation(SQLModel, table=True):
    """A revocation of any province's certificate: this province's own, and those its events announce."""

    __tablename__ = "certificate_revocation"

    certificate_number: str = Field(primary_key=True, max_length=22)
    province: str = Field(max_length=2)
    reason: str
    detail: str
    revoked_on: date
    revoked_by: str
    status_list: str = Field(index=True)
    status_index: int
    recorded_at: datetime = Field(default_factory=utcnow)


class OrganizationRecord(SQLModel, table=True):
    """One step of an organization's filing history (any province), to answer "filed for this on that day?"."""

    __tablename__ = "organization_record"

    id: int | None = Field(default=None, primary_key=True)
    filing_code: str = Field(index=True, max_length=13)
    effective_on: date
    kind: str = Field(description="filed, status or scope")
    status: str | None = None
    scope: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    filed_on: date | None = None
    valid_until: date | None = None
    recorded_at: datetime = Field(default_factory=utcnow)


class VerificationCheck(SQLModel):
    name: str
    passed: bool | None = Field(description="None: not checked here")
    detail: str


class VerificationPublic(SQLModel):
    certificate_number: str | None
    verified: bool
    checks: list[VerificationCheck]


class RetentionPublic(SQLModel):
    policy: str
    minimum_years: int
    enforced_by: str
    protected_tables: list[str]
    certificates: int
    revocations: int
    oldest_issue: date | None


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (
    Certificate,
    SignedBatch,
    BatchIssue,
    SigningKey,
    CertificateRevocation,
    OrganizationRecord,
    OutboxEvent,
    ProcessedEvent,
    SequenceCounter,
    IdempotencyKey,
)
# Never deleted, enforced by the database [L23].
KEPT_TABLES = ("certificate", "signed_batch", "signing_key", "certificate_revocation", "organization_record")
