"""Supervision: the population random inspections are drawn from. Keyword-only functions over a unit of work."""

from __future__ import annotations

from sqlmodel import col, func, select

from shared.platform.replicas import FiledOrganization
from shared.platform.unit import Unit

from .models import InspectableOrganizationPublic
from .settings import SupervisionSettings


def inspectable_organizations(
    *, unit: Unit[SupervisionSettings], skip: int, limit: int
) -> tuple[list[InspectableOrganizationPublic], int]:
    """Filed organizations of this province, by filing code, and how many there are."""
    session = unit.session
    count = session.exec(select(func.count()).select_from(FiledOrganization)).one()
    rows = session.exec(
        select(FiledOrganization).order_by(col(FiledOrganization.filing_code)).offset(skip).limit(limit)
    )
    data = [
        InspectableOrganizationPublic(
            filing_code=o.filing_code,
            name=o.name,
            city=o.city,
            scope=o.scope_items(),
            valid_until=o.valid_until.isoformat(),
        )
        for o in rows
    ]
    return data, int(count)
