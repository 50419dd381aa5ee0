"""A service's own replica of filed organizations, kept from the registry's events.

Recognition checks batch plans against it and supervision draws inspection targets from it, with no
synchronous call to the registry. These are the three handlers; each keeping service's flows.py declares them
on its consumer. A details change each service applies itself (`apply_details`), in the order it keeps.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import JSON, Column, Field, SQLModel

from shared.kernel.clock import utcnow
from shared.kernel.errors import FieldError
from shared.kernel.events import (
    Envelope,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    ScopeItem,
)
from shared.kernel.filing import FilingState
from shared.platform.bus import EventTooEarly
from shared.platform.unit import Unit


class FiledOrganization(SQLModel, table=True):
    __tablename__ = "filed_organization"

    filing_code: str = Field(primary_key=True, max_length=13)
    name: str
    org_type: str = Field(max_length=1)
    province: str = Field(max_length=2)
    city: str | None = None
    scope: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    filed_on: date
    valid_until: date
    status: str = Field(default="filed", max_length=20)
    evaluation_scope: str = Field(default="province", max_length=10)
    sites: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)

    def filing(self) -> FilingState:
        return FilingState(
            filing_code=self.filing_code,
            status=self.status,
            filed_on=self.filed_on,
            valid_until=self.valid_until,
            scope=self.scope,
        )

    def scope_items(self) -> list[ScopeItem]:
        return self.filing().scope_items()

    def scope_error(self, *, occupation_code: str, level: int, on: date) -> FieldError | None:
        """None if the organization may recognise this occupation and level on that day, else why not."""
        return self.filing().scope_error(occupation_code=occupation_code, level=level, on=on)


def on_organization_filed(unit: Unit[Any], event: Envelope[OrganizationFiled]) -> None:
    session, payload = unit.session, event.payload
    replica = session.get(FiledOrganization, payload.filing_code) or FiledOrganization(
        filing_code=payload.filing_code,
        name=payload.name,
        org_type=payload.org_type,
        province=payload.province,
        scope=[],
        filed_on=payload.filed_on,
        valid_until=payload.valid_until,
    )
    replica.name = payload.name
    replica.org_type = payload.org_type
    replica.city = payload.city
    replica.scope = [item.model_dump() for item in payload.scope]
    replica.filed_on = payload.filed_on
    replica.valid_until = payload.valid_until
    replica.evaluation_scope = payload.evaluation_scope
    replica.sites = [site.model_dump() for site in payload.sites]
    replica.status = "filed"
    replica.updated_at = utcnow()
    session.add(replica)


def on_organization_status_changed(unit: Unit[Any], event: Envelope[OrganizationStatusChanged]) -> None:
    """Suspension, reinstatement, revocation, expiry and renewal of a filed organization."""
    session, payload = unit.session, event.payload
    if payload.filing_code is None:
        return  # an application's steps before filing: nothing to keep
    replica = session.get(FiledOrganization, payload.filing_code)
    if replica is None:
        raise EventTooEarly(f"{payload.filing_code} {payload.action} arrived before its filing")
    replica.status = payload.to_status
    if payload.valid_until is not None:
        replica.valid_until = payload.valid_until
    replica.updated_at = utcnow()
    session.add(replica)


def on_organization_scope_changed(unit: Unit[Any], event: Envelope[OrganizationScopeChanged]) -> None:
    session, payload = unit.session, event.payload
    replica = session.get(FiledOrganization, payload.filing_code)
    if replica is None:
        raise EventTooEarly(f"{payload.filing_code} scope change arrived before its filing")
    replica.scope = [item.model_dump() for item in payload.scope]
    replica.updated_at = utcnow()
    session.add(replica)


def apply_details(replica: FiledOrganization, payload: OrganizationDetailsChanged) -> None:
    """The name and the filed exam sites an approved details change gives, whole [L11; S附件3]."""
    replica.name = payload.name
    replica.sites = [site.model_dump() for site in payload.sites]
    replica.updated_at = utcnow()
