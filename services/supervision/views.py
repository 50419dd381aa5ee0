"""Supervision HTTP API: the organizations this province may inspect (its own replica, kept from events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shared.platform.deps import UnitDep

from . import service
from .deps import SUPERVISORS
from .models import InspectableOrganizationsPublic

router = APIRouter(tags=["inspection targets"])


@router.get("/inspectable-organizations", response_model=InspectableOrganizationsPublic, dependencies=[SUPERVISORS])
def inspectable_organizations(
    unit: UnitDep,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> InspectableOrganizationsPublic:
    """Filed organizations of this province: the population random inspections are drawn from."""
    data, count = service.inspectable_organizations(unit=unit, skip=skip, limit=limit)
    return InspectableOrganizationsPublic(data=data, count=count)
