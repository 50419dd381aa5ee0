"""Supervision HTTP API: the organizations this province may inspect (its own replica, kept from events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import SQLModel, col, func, select

from shared.kernel.events import ScopeItem
from shared.platform.app import SessionDep
from shared.platform.auth import Principal, Role, require_role
from shared.platform.replicas import FiledOrganization

router = APIRouter(tags=["inspection targets"])

Supervisor = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR)]


class InspectableOrganization(SQLModel):
    filing_code: str
    name: str
    city: str | None
    scope: list[ScopeItem]
    valid_until: str


class InspectableOrganizations(SQLModel):
    data: list[InspectableOrganization]
    count: int


@router.get("/inspectable-organizations", response_model=InspectableOrganizations)
def inspectable_organizations(
    session: SessionDep,
    principal: Supervisor,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InspectableOrganizations:
    """Filed organizations of this province: the population random inspections are drawn from."""
    count = session.exec(select(func.count()).select_from(FiledOrganization)).one()
    rows = session.exec(
        select(FiledOrganization).order_by(col(FiledOrganization.filing_code)).offset(skip).limit(limit)
    )
    data = [
        InspectableOrganization(filing_code=o.filing_code, name=o.name, city=o.city, scope=o.scope_items(),
                                valid_until=o.valid_until.isoformat())
        for o in rows
    ]
    return InspectableOrganizations(data=data, count=int(count))
