"""Registry HTTP API: the application workflow (tokens with roles) and the public catalogue (no token)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status

from shared.kernel.workflow import ObjectionCreate, ObjectionResolution
from shared.platform.auth import Actor, Principal, Role
from shared.platform.deps import RowId, Skip, UnitDep
from shared.platform.unit import Unit

from . import service
from .deps import Applicant, Official, Reviewer, Staff
from .models import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationsPublic,
    AssessmentCreate,
    ChangeAssessment,
    ChangeCreate,
    FiledOrganizationCreate,
    ObjectionPublic,
    OccupationCreate,
    OccupationPublic,
    OccupationsPublic,
    Organization,
    OrganizationPublic,
    OrganizationsPublic,
    OrganizationStatus,
    PublicityCreate,
    Reason,
    ScopeChangeCreate,
    ScopeChangePublic,
    StepDecision,
)
from .settings import RegistrySettings

router = APIRouter()


def ensure_own(principal: Principal, organization: Organization) -> None:
    """An operator acts only for its own organization: by filing code, or by credit code before filing."""
    if principal.role is Role.ORG_OPERATOR and principal.organization not in (
        organization.filing_code,
        organization.credit_code,
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}")


# --- applications -------------------------------------------------------------------------------------


@router.post("/applications", status_code=201, response_model=ApplicationPublic, tags=["applications"])
def submit_application(application: ApplicationCreate, unit: UnitDep, principal: Applicant) -> ApplicationPublic:
    """Submits an application; every rule of the province's policy is checked and all failures reported."""
    if principal.role is Role.ORG_OPERATOR and principal.organization != application.credit_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an applicant's token names its own unified social credit code")
    organization = service.submit_application(unit=unit, application=application, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


@router.get("/applications/{application_id}", response_model=ApplicationPublic, tags=["applications"])
def read_application(application_id: RowId, unit: UnitDep, principal: Staff) -> ApplicationPublic:
    """A city's or county's officials see the applications of their city only [L3]."""
    organization = service.get_organization(unit=unit, organization_id=application_id)
    ensure_own(principal, organization)
    service.ensure_sees(unit=unit, organization=organization, principal=principal)
    return service.to_application(unit=unit, organization=organization)


@router.get("/applications", response_model=ApplicationsPublic, tags=["applications"])
def list_applications(
    unit: UnitDep,
    principal: Reviewer,
    status_: Annotated[OrganizationStatus | None, Query(alias="status")] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ApplicationsPublic:
    """The applications an official sees: the province all, a city those it selects, a county its applicants'."""
    rows, total = service.list_applications(unit=unit, principal=principal, status=status_, skip=skip, limit=limit)
    return ApplicationsPublic(data=[service.to_application(unit=unit, organization=o) for o in rows], count=total)


def _acting(unit: Unit[RegistrySettings], application_id: int, principal: Principal, step: str) -> Organization:
    """The application, if the principal is an official of its selecting division for this step (else 403)."""
    organization = service.get_organization(unit=unit, organization_id=application_id)
    service.ensure_acts(unit=unit, organization=organization, principal=principal, step=step)
    return organization


@router.post("/applications/{application_id}/accept", response_model=ApplicationPublic, tags=["applications"])
def accept(application_id: RowId, unit: UnitDep, principal: Reviewer) -> ApplicationPublic:
    """受理: due within the policy's working days of submission; a late acceptance shows as overdue [L8]."""
    organization = _acting(unit, application_id, principal, "accept")
    service.accept(unit=unit, organization=organization, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


@router.post(
    "/applications/{application_id}/preliminary-review", response_model=ApplicationPublic, tags=["applications"]
)
def preliminary_review(
    application_id: RowId, decision: StepDecision, unit: UnitDep, principal: Reviewer
) -> ApplicationPublic:
    organization = _acting(unit, application_id, principal, "preliminary_review")
    service.preliminary_review(
        unit=unit, organization=organization, passed=decision.passed, reason=decision.reason, actor=Actor.of(principal)
    )
    return service.to_application(unit=unit, organization=organization)


@router.post(
    "/applications/{application_id}/technical-assessment", response_model=ApplicationPublic, tags=["applications"]
)
def technical_assessment(
    application_id: RowId, assessment: AssessmentCreate, unit: UnitDep, principal: Reviewer
) -> ApplicationPublic:
    organization = _acting(unit, application_id, principal, "technical_assessment")
    service.technical_assessment(unit=unit, organization=organization, assessment=assessment, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


@router.post("/applications/{application_id}/publicity", response_model=ApplicationPublic, tags=["applications"])
def publish(application_id: RowId, publicity: PublicityCreate, unit: UnitDep, principal: Reviewer) -> ApplicationPublic:
    """Starts the publicity, dated by the notice's publication on the portals [L9]."""
    organization = _acting(unit, application_id, principal, "publicity")
    service.publish(
        unit=unit, organization=organization, published_on=publicity.published_on, actor=Actor.of(principal)
    )
    return service.to_application(unit=unit, organization=organization)


@router.post(
    "/applications/{application_id}/objections", status_code=201, response_model=ObjectionPublic, tags=["applications"]
)
def raise_objection(
    application_id: RowId, objection: ObjectionCreate, unit: UnitDep, principal: Reviewer
) -> ObjectionPublic:
    organization = _acting(unit, application_id, principal, "objection")
    stored = service.raise_objection(unit=unit, organization=organization, objection_in=objection)
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post(
    "/applications/{application_id}/objections/{objection_id}/resolve",
    response_model=ObjectionPublic,
    tags=["applications"],
)
def resolve_objection(
    application_id: RowId, objection_id: RowId, resolution: ObjectionResolution, unit: UnitDep, principal: Reviewer
) -> ObjectionPublic:
    organization = _acting(unit, application_id, principal, "objection")
    stored = service.resolve_objection(
        unit=unit, organization=organization, objection_id=objection_id, resolution=resolution
    )
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post("/applications/{application_id}/file", response_model=ApplicationPublic, tags=["applications"])
def file(application_id: RowId, unit: UnitDep, principal: Official) -> ApplicationPublic:
    """Files the organization and assigns its code, after the publicity with no upheld objection and, for a
    city's selection, on the city's report [L9]."""
    organization = _acting(unit, application_id, principal, "file")
    service.file(unit=unit, organization=organization, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


@router.post("/applications/{application_id}/reject", response_model=ApplicationPublic, tags=["applications"])
def reject(application_id: RowId, reason: Reason, unit: UnitDep, principal: Reviewer) -> ApplicationPublic:
    organization = _acting(unit, application_id, principal, "reject")
    service.reject(unit=unit, organization=organization, reason=reason.reason, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


@router.post("/applications/{application_id}/selection-report", response_model=ApplicationPublic, tags=["applications"])
def report_selection(application_id: RowId, unit: UnitDep, principal: Reviewer) -> ApplicationPublic:
    """The city reports its selection to the province (附件3) after the publicity, within the policy's working
    days of its end; a late report is accepted and shown `reported_late` [L9]."""
    organization = _acting(unit, application_id, principal, "report")
    service.report_selection(unit=unit, organization=organization, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


# --- filed organizations ---------------------------------------------------------------------------------


@router.post("/organizations", status_code=201, response_model=ApplicationPublic, tags=["organizations"])
def register_filed(application: FiledOrganizationCreate, unit: UnitDep, principal: Official) -> ApplicationPublic:
    """Takes in an organization filed before this system ran, or filed by the ministry, with its code, filing date
    and validity; every rule is still checked [L9, L附件6]."""
    organization = service.register_filed(unit=unit, application=application, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


def _filed(unit: Unit[RegistrySettings], filing_code: str) -> Organization:
    return service.get_filed(unit=unit, filing_code=filing_code.upper())


@router.post("/organizations/{filing_code}/renew", response_model=ApplicationPublic, tags=["organizations"])
def renew(filing_code: str, unit: UnitDep, principal: Official) -> ApplicationPublic:
    organization = _filed(unit, filing_code)
    service.renew(unit=unit, organization=organization, actor=Actor.of(principal))
    return service.to_application(unit=unit, organization=organization)


def _sanction(
    filing_code: str, action: str, reason: Reason, unit: Unit[RegistrySettings], principal: Principal
) -> ApplicationPublic:
    organization = _filed(unit, filing_code)
    service.sanction(
        unit=unit, organization=organization, action=action, reason=reason.reason, actor=Actor.of(principal)
    )
    return service.to_application(unit=unit, organization=organization)


@router.post("/organizations/{filing_code}/suspend", response_model=ApplicationPublic, tags=["organizations"])
def suspend(filing_code: str, reason: Reason, unit: UnitDep, principal: Official) -> ApplicationPublic:
    """No new batches until reinstated [L28]; supervision's sanctions arrive as events too."""
    return _sanction(filing_code, "suspend", reason, unit, principal)


@router.post("/organizations/{filing_code}/reinstate", response_model=ApplicationPublic, tags=["organizations"])
def reinstate(filing_code: str, reason: Reason, unit: UnitDep, principal: Official) -> ApplicationPublic:
    return _sanction(filing_code, "reinstate", reason, unit, principal)


@router.post("/organizations/{filing_code}/revoke", response_model=ApplicationPublic, tags=["organizations"])
def revoke(filing_code: str, reason: Reason, unit: UnitDep, principal: Official) -> ApplicationPublic:
    """Revocation removes the organization from the catalogue; it finishes its follow-up work [L28]."""
    return _sanction(filing_code, "revoke", reason, unit, principal)


@router.post("/expiry-runs", tags=["organizations"])
def expire_due(unit: UnitDep, principal: Official) -> dict[str, list[str]]:
    """Expires filings past their validity now (the service also does it by itself, hourly)."""
    return {"expired": service.expire_due(unit=unit)}


def _requested_of(unit: Unit[RegistrySettings], filing_code: str, principal: Principal) -> Organization:
    """The filed organization a change is asked for: by its own operator, or an official who sees it (the province,
    or the city that selected it) [L3, L11]; else 403."""
    organization = _filed(unit, filing_code)
    ensure_own(principal, organization)
    if principal.role is not Role.ORG_OPERATOR:
        service.ensure_sees(unit=unit, organization=organization, principal=principal)
    return organization


@router.post(
    "/organizations/{filing_code}/scope-changes",
    status_code=201,
    response_model=ScopeChangePublic,
    tags=["scope changes"],
)
def request_scope_change(
    filing_code: str, change: ScopeChangeCreate, unit: UnitDep, principal: Applicant
) -> ScopeChangePublic:
    organization = _requested_of(unit, filing_code, principal)
    stored = service.request_scope_change(
        unit=unit, organization=organization, change=change, actor=Actor.of(principal)
    )
    return service.change_public(unit=unit, change=stored)


@router.post(
    "/organizations/{filing_code}/scope-changes/{change_id}/{decision}",
    response_model=ScopeChangePublic,
    tags=["scope changes"],
)
def decide_scope_change(
    filing_code: str,
    change_id: RowId,
    decision: Literal["approve", "reject"],
    unit: UnitDep,
    principal: Official,
    reason: Reason | None = None,
) -> ScopeChangePublic:
    organization = _filed(unit, filing_code)
    stored = service.decide_scope_change(
        unit=unit,
        organization=organization,
        change_id=change_id,
        approve=decision == "approve",
        reason=reason.reason if reason else None,
        actor=Actor.of(principal),
    )
    return service.change_public(unit=unit, change=stored)


@router.post(
    "/organizations/{filing_code}/changes", status_code=201, response_model=ScopeChangePublic, tags=["changes"]
)
def request_change(filing_code: str, change: ChangeCreate, unit: UnitDep, principal: Applicant) -> ScopeChangePublic:
    """A change of exam sites or of the institution's information [L11; S附件3]; its steps are the policy's
    (`changes`): acceptance, expert assessment and publicity where it says so, then the province's approval."""
    organization = _requested_of(unit, filing_code, principal)
    stored = service.request_change(unit=unit, organization=organization, change=change, actor=Actor.of(principal))
    return service.change_public(unit=unit, change=stored)


def _changing(unit: Unit[RegistrySettings], filing_code: str, principal: Principal, step: str) -> Organization:
    """The organization, if the principal is an official of the division that selected it (else 403)."""
    organization = _filed(unit, filing_code)
    service.ensure_acts(unit=unit, organization=organization, principal=principal, step=step)
    return organization


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/acceptance", response_model=ScopeChangePublic, tags=["changes"]
)
def accept_change(filing_code: str, change_id: RowId, unit: UnitDep, principal: Reviewer) -> ScopeChangePublic:
    organization = _changing(unit, filing_code, principal, "accept")
    stored = service.accept_change(unit=unit, organization=organization, change_id=change_id)
    return service.change_public(unit=unit, change=stored)


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/assessment", response_model=ScopeChangePublic, tags=["changes"]
)
def assess_change(
    filing_code: str, change_id: RowId, assessment: ChangeAssessment, unit: UnitDep, principal: Reviewer
) -> ScopeChangePublic:
    organization = _changing(unit, filing_code, principal, "technical_assessment")
    stored = service.assess_change(unit=unit, organization=organization, change_id=change_id, assessment=assessment)
    return service.change_public(unit=unit, change=stored)


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/publicity", response_model=ScopeChangePublic, tags=["changes"]
)
def publish_change(
    filing_code: str, change_id: RowId, publicity: PublicityCreate, unit: UnitDep, principal: Reviewer
) -> ScopeChangePublic:
    organization = _changing(unit, filing_code, principal, "publicity")
    stored = service.publish_change(
        unit=unit, organization=organization, change_id=change_id, published_on=publicity.published_on
    )
    return service.change_public(unit=unit, change=stored)


@router.get("/organizations/{filing_code}/changes/{change_id}", response_model=ScopeChangePublic, tags=["changes"])
def read_change(filing_code: str, change_id: RowId, unit: UnitDep, principal: Staff) -> ScopeChangePublic:
    """A change, its steps and the objections to its publicity: for the organization and the officials who see it."""
    organization = _filed(unit, filing_code)
    ensure_own(principal, organization)
    if principal.role in (Role.CITY_OFFICIAL, Role.COUNTY_OFFICIAL):
        service.ensure_sees(unit=unit, organization=organization, principal=principal)
    return service.change_public(
        unit=unit, change=service.get_change(unit=unit, organization=organization, change_id=change_id)
    )


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/objections",
    status_code=201,
    response_model=ObjectionPublic,
    tags=["changes"],
)
def raise_change_objection(
    filing_code: str, change_id: RowId, objection: ObjectionCreate, unit: UnitDep, principal: Reviewer
) -> ObjectionPublic:
    """An objection raised during a change's publicity, taken by the selecting division [L9, L11]."""
    organization = _changing(unit, filing_code, principal, "objection")
    stored = service.raise_change_objection(
        unit=unit, organization=organization, change_id=change_id, objection_in=objection
    )
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/objections/{objection_id}/resolve",
    response_model=ObjectionPublic,
    tags=["changes"],
)
def resolve_change_objection(
    filing_code: str,
    change_id: RowId,
    objection_id: RowId,
    resolution: ObjectionResolution,
    unit: UnitDep,
    principal: Reviewer,
) -> ObjectionPublic:
    organization = _changing(unit, filing_code, principal, "objection")
    stored = service.resolve_change_objection(
        unit=unit, organization=organization, change_id=change_id, objection_id=objection_id, resolution=resolution
    )
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post(
    "/organizations/{filing_code}/changes/{change_id}/{decision}", response_model=ScopeChangePublic, tags=["changes"]
)
def decide_change(
    filing_code: str,
    change_id: RowId,
    decision: Literal["approve", "reject"],
    unit: UnitDep,
    principal: Official,
    reason: Reason | None = None,
) -> ScopeChangePublic:
    """The province approves (or refuses) any change, of scope too, once the policy's steps are done (409 names the
    missing one); approval publishes the organization as it now is."""
    return decide_scope_change(filing_code, change_id, decision, unit, principal, reason)


# --- the public catalogue -----------------------------------------------------------------------------


@router.get("/organizations", response_model=OrganizationsPublic, tags=["catalogue"])
def catalogue(
    unit: UnitDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    occupation_code: Annotated[str | None, Query(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")] = None,
    level: Annotated[int | None, Query(ge=-1, le=6)] = None,
    city: Annotated[str | None, Query(max_length=60)] = None,
    status_: Annotated[OrganizationStatus | None, Query(alias="status")] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrganizationsPublic:
    """The public catalogue of filed organizations [L10, Z四(五)]; no token needed."""
    rows, total = service.search_catalogue(
        unit=unit,
        name=name,
        occupation_code=occupation_code,
        level=level,
        city=city,
        status=status_,
        skip=skip,
        limit=limit,
    )
    return OrganizationsPublic(data=service.catalogue_entries(unit=unit, organizations=rows), count=total)


@router.get("/organizations/{filing_code}", response_model=OrganizationPublic, tags=["catalogue"])
def read_organization(filing_code: str, unit: UnitDep) -> OrganizationPublic:
    organization = _filed(unit, filing_code)
    if organization.status not in (OrganizationStatus.FILED, OrganizationStatus.SUSPENDED):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{filing_code} is {organization.status.value} and no longer in the catalogue"
        )
    return service.catalogue_entry(unit=unit, organization=organization)


# --- the occupation catalogue ---------------------------------------------------------------------------


@router.get("/occupations", response_model=OccupationsPublic, tags=["occupations"])
def browse_occupations(
    unit: UnitDep,
    q: Annotated[str | None, Query(max_length=60, description="part of the name, or the start of the code")] = None,
    category: Annotated[str | None, Query(pattern=r"^\d$", description="大类: 1-8")] = None,
    skip: Skip = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OccupationsPublic:
    """The occupations of the 职业分类大典 (2022) and those added since, each with whether it is recognised here."""
    rows, total = service.browse_occupations(unit=unit, q=q, category=category, skip=skip, limit=limit)
    return OccupationsPublic(data=[service.occupation_public(unit=unit, occupation=o) for o in rows], count=total)


@router.get("/occupations/{code}", response_model=OccupationPublic, tags=["occupations"])
def read_occupation(code: Annotated[str, Path(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")], unit: UnitDep) -> OccupationPublic:
    return service.occupation_public(unit=unit, occupation=service.get_occupation(unit=unit, code=code))


@router.post("/occupations", status_code=201, response_model=OccupationPublic, tags=["occupations"])
def add_occupation(occupation_in: OccupationCreate, unit: UnitDep, principal: Official) -> OccupationPublic:
    """A province official adds an occupation the ministry published after the 大典 [L12]; it may be applied for."""
    occupation = service.add_occupation(unit=unit, occupation_in=occupation_in, actor=Actor.of(principal))
    return service.occupation_public(unit=unit, occupation=occupation)
