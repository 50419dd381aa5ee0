"""Registry HTTP API: filing (province officials) and the public catalogue (no token)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Query, status

from shared.auth import Principal, Role, require_role
from shared.service import RuntimeDep, SessionDep

from . import service
from .models import Organization, OrganizationCreate, OrganizationPublic, OrganizationsPublic
from .settings import RegistrySettings

router = APIRouter(tags=["organizations"])


def to_public(organization: Organization) -> OrganizationPublic:
    return OrganizationPublic.model_validate(organization, update={"scope": service.scope_items(organization)})


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationPublic)
def file_organization(
    organization_in: OrganizationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)],
) -> OrganizationPublic:
    """Files an evaluation organization with its scope and assigns its 13-character filing code."""
    settings = cast(RegistrySettings, runtime.settings)
    organization = service.file_organization(
        session=session, organization_in=organization_in, province=settings.province,
        filed_by=principal.subject, validity_years=settings.filing_validity_years,
    )
    return to_public(organization)


@router.get("/organizations", response_model=OrganizationsPublic)
def catalogue(
    session: SessionDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    occupation_code: Annotated[str | None, Query(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")] = None,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrganizationsPublic:
    """The public catalogue of filed organizations."""
    organizations, count = service.list_organizations(
        session=session, name=name, occupation_code=occupation_code, skip=skip, limit=limit
    )
    return OrganizationsPublic(data=[to_public(o) for o in organizations], count=count)


@router.get("/organizations/{filing_code}", response_model=OrganizationPublic)
def read_organization(filing_code: str, session: SessionDep) -> OrganizationPublic:
    organization = service.get_organization(session=session, filing_code=filing_code.upper())
    if organization is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no organization filed with code {filing_code}")
    return to_public(organization)
