"""Supervision's tables and shapes. Inspections, experts and findings come with the supervision issues."""

from __future__ import annotations

from sqlmodel import SQLModel

from shared.kernel.events import ScopeItem
from shared.platform.outbox import ProcessedEvent
from shared.platform.replicas import FiledOrganization

# What this service's database holds (its alembic migrations create exactly these).
TABLES = (FiledOrganization, ProcessedEvent)


class InspectableOrganizationPublic(SQLModel):
    filing_code: str
    name: str
    city: str | None
    scope: list[ScopeItem]
    valid_until: str


class InspectableOrganizationsPublic(SQLModel):
    data: list[InspectableOrganizationPublic]
    count: int
