"""Evaluation organizations as filed by the province (XBase / XCreate / X / XPublic)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import field_validator
from sqlmodel import JSON, Column, Field, SQLModel
from stdnum.cn import uscc

from shared.events import ScopeItem
from shared.outbox import OutboxEvent, utcnow
from shared.sequences import SequenceCounter


class OrganizationStatus(StrEnum):
    FILED = "filed"


class OrganizationBase(SQLModel):
    name: str = Field(min_length=2, max_length=200)
    credit_code: str = Field(description="统一社会信用代码, 18 characters with its check character (GB 32100)")
    org_type: str = Field(description="Y employer (用人单位) or S social training evaluation organization")
    city: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=300)


class OrganizationCreate(OrganizationBase):
    national_code: str = Field(default="0000", description="ministry code for national filing; 0000 for provincial")
    scope: list[ScopeItem] = Field(min_length=1)

    @field_validator("credit_code")
    @classmethod
    def _credit_code_valid(cls, value: str) -> str:
        try:
            return str(uscc.validate(value))
        except Exception as error:
            raise ValueError(f"not a valid unified social credit code: {error}") from error

    @field_validator("org_type")
    @classmethod
    def _org_type_known(cls, value: str) -> str:
        if value not in ("S", "Y"):
            raise ValueError("must be Y (employer) or S (social training evaluation organization)")
        return value

    @field_validator("national_code")
    @classmethod
    def _national_code_digits(cls, value: str) -> str:
        if len(value) != 4 or not value.isdigit():
            raise ValueError("must be 4 digits: 0000 for provincial filing, 0001-9999 for national")
        return value

    @field_validator("scope")
    @classmethod
    def _scope_unique(cls, value: list[ScopeItem]) -> list[ScopeItem]:
        seen = set()
        for item in value:
            key = (item.occupation_code, item.work_type)
            if key in seen:
                raise ValueError(f"occupation {item.occupation_code} appears twice")
            if len(set(item.levels)) != len(item.levels):
                raise ValueError(f"occupation {item.occupation_code} repeats a level")
            seen.add(key)
        return value


class Organization(OrganizationBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    filing_code: str = Field(unique=True, index=True, max_length=13)
    national_code: str = Field(max_length=4)
    province: str = Field(max_length=2)
    sequence: int
    scope: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    status: OrganizationStatus = OrganizationStatus.FILED
    filed_on: date
    valid_until: date
    filed_by: str
    created_at: datetime = Field(default_factory=utcnow)


class OrganizationPublic(OrganizationBase):
    filing_code: str
    province: str
    scope: list[ScopeItem]
    status: OrganizationStatus
    filed_on: date
    valid_until: date


class OrganizationsPublic(SQLModel):
    data: list[OrganizationPublic]
    count: int


# What this service's database holds (its alembic migrations create exactly these).
TABLES = (Organization, OutboxEvent, SequenceCounter)
