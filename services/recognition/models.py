"""Recognition batches and their candidates (XBase / XCreate / X / XPublic)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import field_validator, model_validator
from sqlmodel import Field, SQLModel, UniqueConstraint
from stdnum.cn import ric

from shared.outbox import OutboxEvent, ProcessedEvent, utcnow
from shared.replicas import FiledOrganization

RESIDENT_ID_CARD = "居民身份证"


class BatchStatus(StrEnum):
    PLANNED = "planned"
    RESULTS_RECORDED = "results_recorded"
    APPROVED = "approved"


class CandidateBase(SQLModel):
    name: str = Field(min_length=1, max_length=60)
    id_type: str = Field(default=RESIDENT_ID_CARD, max_length=20)
    id_number: str = Field(min_length=1, max_length=32)


class CandidateCreate(CandidateBase):
    @model_validator(mode="after")
    def _resident_id_valid(self) -> CandidateCreate:
        if self.id_type == RESIDENT_ID_CARD:
            try:
                self.id_number = str(ric.validate(self.id_number))
            except Exception as error:
                raise ValueError(f"id_number is not a valid resident identity card number: {error}") from error
        return self


class Candidate(CandidateBase, table=True):
    __table_args__ = (UniqueConstraint("batch_id", "id_type", "id_number"),)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True)
    batch_id: str = Field(foreign_key="batch.id", index=True)
    position: int = Field(description="order in the plan; certificate serials follow it")
    passed: bool | None = None


class CandidatePublic(CandidateBase):
    id: str
    passed: bool | None


class BatchBase(SQLModel):
    organization_code: str = Field(max_length=13)
    occupation_code: str = Field(max_length=10, schema_extra={"pattern": r"^\d-\d{2}-\d{2}-\d{2}$"})
    occupation_name: str = Field(min_length=1, max_length=100)
    work_type: str | None = Field(default=None, max_length=100)
    level: int = Field(ge=1, le=5)


class BatchCreate(BatchBase):
    candidates: list[CandidateCreate] = Field(min_length=1)

    @field_validator("candidates")
    @classmethod
    def _candidate_once(cls, value: list[CandidateCreate]) -> list[CandidateCreate]:
        seen: set[tuple[str, str]] = set()
        for index, candidate in enumerate(value):
            key = (candidate.id_type, candidate.id_number)
            if key in seen:
                raise ValueError(f"candidate {index} ({candidate.name}) appears twice in the batch")
            seen.add(key)
        return value


class Batch(BatchBase, table=True):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), primary_key=True)
    organization_name: str
    status: BatchStatus = BatchStatus.PLANNED
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    approved_on: date | None = None
    approved_by: str | None = None


class BatchPublic(BatchBase):
    id: str
    organization_name: str
    status: BatchStatus
    approved_on: date | None
    candidates: list[CandidatePublic]


class CandidateResult(SQLModel):
    candidate_id: str
    passed: bool


class ResultsIn(SQLModel):
    results: list[CandidateResult] = Field(min_length=1)


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (FiledOrganization, Batch, Candidate, OutboxEvent, ProcessedEvent)
