"""Issued certificates (XBase / X / XPublic). Nothing here is ever deleted."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel, UniqueConstraint

from shared.outbox import OutboxEvent, ProcessedEvent, utcnow
from shared.sequences import SequenceCounter


class CertificateStatus(StrEnum):
    VALID = "valid"


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
    created_at: datetime = Field(default_factory=utcnow)


class CertificatePublic(CertificateBase):
    id_number_masked: str
    lookup_url: str


class CertificatesPublic(SQLModel):
    data: list[CertificatePublic]
    count: int


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (Certificate, OutboxEvent, ProcessedEvent, SequenceCounter)
