"""Registry HTTP API: the application workflow (tokens with roles) and the public catalogue (no token)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, cast

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import Session

from shared.kernel.policy import Policy
from shared.kernel.workflow import ObjectionIn, ObjectionResolution
from shared.platform.app import RuntimeDep, SessionDep
from shared.platform.auth import Actor, Principal, Role, require_role

from . import service
from .models import (
    ApplicationCreate,
    ApplicationPublic,
    AssessmentIn,
    CatalogueOccupation,
    Decision,
    ObjectionPublic,
    Organization,
    OrganizationPublic,
    OrganizationsPublic,
    OrganizationStatus,
    PublicityIn,
    Reason,
    ScopeChangeIn,
    ScopeChangePublic,
    TransitionPublic,
)
from .settings import RegistrySettings

router = APIRouter()

Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Reviewer = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL)]
Applicant = Annotated[Principal, require_role(Role.ORG_OPERATOR, Role.CITY_OFFICIAL, Role.PROVINCE_OFFICIAL)]
Staff = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR,
                                          Role.ORG_OPERATOR)]


def policy_of(runtime: RuntimeDep) -> Policy:
    return cast(RegistrySettings, runtime.settings).policy


def to_public(organization: Organization, policy: Policy) -> OrganizationPublic:
    ladder = policy.ladder_for(organization.kind)
    occupations = [
        CatalogueOccupation(occupation_code=item.occupation_code, occupation_name=item.occupation_name,
                            work_type=item.work_type, levels=[ladder.title(r) for r in sorted(item.levels)])
        for item in service.scope_of(organization)
    ]
    fields = {name: getattr(organization, name) for name in OrganizationPublic.model_fields if name != "occupations"}
    return OrganizationPublic(**fields, occupations=occupations)


def to_application(session: Session, organization: Organization, policy: Policy) -> ApplicationPublic:
    assert organization.id is not None
    accepted_or_today = organization.accepted_on or date.today()
    return ApplicationPublic(
        **to_public(organization, policy).model_dump(),
        id=organization.id, credit_code=organization.credit_code, submitted_on=organization.submitted_on,
        acceptance_due_on=organization.acceptance_due_on, accepted_on=organization.accepted_on,
        acceptance_overdue=accepted_or_today > organization.acceptance_due_on,
        publicity_from=organization.publicity_from, publicity_until=organization.publicity_until,
        trail=[TransitionPublic.model_validate(t, from_attributes=True)
               for t in service.transitions_of(session, organization.id)],
        objections=[ObjectionPublic.model_validate(o, from_attributes=True)
                    for o in service.objections_of(session, organization.id)],
    )


def ensure_own(principal: Principal, organization: Organization) -> None:
    """An operator acts only for its own organization: by filing code, or by credit code before filing."""
    if principal.role is Role.ORG_OPERATOR and principal.organization not in (
        organization.filing_code, organization.credit_code
    ):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this token acts for {principal.organization}")


# --- applications -------------------------------------------------------------------------------------


@router.post("/applications", status_code=201, response_model=ApplicationPublic, tags=["applications"])
def submit_application(application: ApplicationCreate, session: SessionDep, runtime: RuntimeDep,
                       principal: Applicant) -> ApplicationPublic:
    """Submits an application; every rule of the province's policy is checked and all failures reported."""
    if principal.role is Role.ORG_OPERATOR and principal.organization != application.credit_code:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "an applicant's token names its own unified social credit code")
    policy = policy_of(runtime)
    organization = service.submit_application(session=session, application=application, policy=policy,
                                               actor=Actor.of(principal))
    return to_application(session, organization, policy)


@router.get("/applications/{application_id}", response_model=ApplicationPublic, tags=["applications"])
def read_application(application_id: int, session: SessionDep, runtime: RuntimeDep,
                     principal: Staff) -> ApplicationPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    ensure_own(principal, organization)
    return to_application(session, organization, policy_of(runtime))


@router.post("/applications/{application_id}/accept", response_model=ApplicationPublic, tags=["applications"])
def accept(application_id: int, session: SessionDep, runtime: RuntimeDep, principal: Reviewer) -> ApplicationPublic:
    """受理: due within the policy's working days of submission; a late acceptance shows as overdue [L8]."""
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.accept(session=session, organization=organization, actor=Actor.of(principal), province=policy.code)
    return to_application(session, organization, policy)


@router.post("/applications/{application_id}/preliminary-review", response_model=ApplicationPublic,
             tags=["applications"])
def preliminary_review(application_id: int, decision: Decision, session: SessionDep, runtime: RuntimeDep,
                       principal: Reviewer) -> ApplicationPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.preliminary_review(session=session, organization=organization, passed=decision.passed,
                               reason=decision.reason, actor=Actor.of(principal), province=policy.code)
    return to_application(session, organization, policy)


@router.post("/applications/{application_id}/technical-assessment", response_model=ApplicationPublic,
             tags=["applications"])
def technical_assessment(application_id: int, assessment: AssessmentIn, session: SessionDep, runtime: RuntimeDep,
                         principal: Official) -> ApplicationPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.technical_assessment(session=session, organization=organization, assessment=assessment,
                                 actor=Actor.of(principal), province=policy.code)
    return to_application(session, organization, policy)


@router.post("/applications/{application_id}/publicity", response_model=ApplicationPublic, tags=["applications"])
def publish(application_id: int, publicity: PublicityIn, session: SessionDep, runtime: RuntimeDep,
            principal: Official) -> ApplicationPublic:
    """Starts the publicity, dated by the notice's publication on the portals [L9]."""
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.publish(session=session, organization=organization, published_on=publicity.published_on, policy=policy,
                    actor=Actor.of(principal))
    return to_application(session, organization, policy)


@router.post("/applications/{application_id}/objections", status_code=201, response_model=ObjectionPublic,
             tags=["applications"])
def raise_objection(application_id: int, objection: ObjectionIn, session: SessionDep,
                    principal: Reviewer) -> ObjectionPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    stored = service.raise_objection(session=session, organization=organization, objection_in=objection)
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post("/applications/{application_id}/objections/{objection_id}/resolve", response_model=ObjectionPublic,
             tags=["applications"])
def resolve_objection(application_id: int, objection_id: int, resolution: ObjectionResolution,
                      session: SessionDep, principal: Official) -> ObjectionPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    stored = service.resolve_objection(session=session, organization=organization, objection_id=objection_id,
                                       resolution=resolution)
    return ObjectionPublic.model_validate(stored, from_attributes=True)


@router.post("/applications/{application_id}/file", response_model=ApplicationPublic, tags=["applications"])
def file(application_id: int, session: SessionDep, runtime: RuntimeDep, principal: Official) -> ApplicationPublic:
    """Files the organization and assigns its code, after the publicity with no upheld objection [L9]."""
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.file(session=session, organization=organization, policy=policy, actor=Actor.of(principal))
    return to_application(session, organization, policy)


@router.post("/applications/{application_id}/reject", response_model=ApplicationPublic, tags=["applications"])
def reject(application_id: int, reason: Reason, session: SessionDep, runtime: RuntimeDep,
           principal: Reviewer) -> ApplicationPublic:
    organization = service.get_organization(session=session, organization_id=application_id)
    policy = policy_of(runtime)
    service.reject(session=session, organization=organization, reason=reason.reason, actor=Actor.of(principal),
                   province=policy.code)
    return to_application(session, organization, policy)


# --- filed organizations ---------------------------------------------------------------------------------


@router.post("/organizations", status_code=201, response_model=ApplicationPublic, tags=["organizations"])
def register_filed(application: ApplicationCreate, session: SessionDep, runtime: RuntimeDep,
                   principal: Official) -> ApplicationPublic:
    """Registers an organization the province filed before this system ran: every rule is still checked."""
    policy = policy_of(runtime)
    actor = Actor.of(principal)
    organization = service.submit_application(session=session, application=application, policy=policy, actor=actor)
    service.file(session=session, organization=organization, policy=policy, actor=actor, action="register_filed")
    return to_application(session, organization, policy)


def _filed(session: Session, filing_code: str) -> Organization:
    return service.get_filed(session=session, filing_code=filing_code.upper())


@router.post("/organizations/{filing_code}/renew", response_model=ApplicationPublic, tags=["organizations"])
def renew(filing_code: str, session: SessionDep, runtime: RuntimeDep, principal: Official) -> ApplicationPublic:
    organization = _filed(session, filing_code)
    policy = policy_of(runtime)
    service.renew(session=session, organization=organization, policy=policy, actor=Actor.of(principal))
    return to_application(session, organization, policy)


def _sanction(filing_code: str, action: str, reason: Reason, session: Session, runtime: RuntimeDep,
              principal: Principal) -> ApplicationPublic:
    organization = _filed(session, filing_code)
    policy = policy_of(runtime)
    service.sanction(session=session, organization=organization, action=action, reason=reason.reason,
                     actor=Actor.of(principal), province=policy.code)
    return to_application(session, organization, policy)


@router.post("/organizations/{filing_code}/suspend", response_model=ApplicationPublic, tags=["organizations"])
def suspend(filing_code: str, reason: Reason, session: SessionDep, runtime: RuntimeDep,
            principal: Official) -> ApplicationPublic:
    """No new batches until reinstated [L28]; supervision's sanctions arrive as events too."""
    return _sanction(filing_code, "suspend", reason, session, runtime, principal)


@router.post("/organizations/{filing_code}/reinstate", response_model=ApplicationPublic, tags=["organizations"])
def reinstate(filing_code: str, reason: Reason, session: SessionDep, runtime: RuntimeDep,
              principal: Official) -> ApplicationPublic:
    return _sanction(filing_code, "reinstate", reason, session, runtime, principal)


@router.post("/organizations/{filing_code}/revoke", response_model=ApplicationPublic, tags=["organizations"])
def revoke(filing_code: str, reason: Reason, session: SessionDep, runtime: RuntimeDep,
           principal: Official) -> ApplicationPublic:
    """Revocation removes the organization from the catalogue; it finishes its follow-up work [L28]."""
    return _sanction(filing_code, "revoke", reason, session, runtime, principal)


@router.post("/expiry-runs", tags=["organizations"])
def expire_due(session: SessionDep, runtime: RuntimeDep, principal: Official) -> dict[str, list[str]]:
    """Expires filings past their validity now (the service also does it by itself, hourly)."""
    return {"expired": service.expire_due(session=session, province=runtime.settings.province)}


@router.post("/organizations/{filing_code}/scope-changes", status_code=201, response_model=ScopeChangePublic,
             tags=["scope changes"])
def request_scope_change(filing_code: str, change: ScopeChangeIn, session: SessionDep, runtime: RuntimeDep,
                         principal: Applicant) -> ScopeChangePublic:
    organization = _filed(session, filing_code)
    ensure_own(principal, organization)
    stored = service.request_scope_change(session=session, organization=organization, change=change,
                                          policy=policy_of(runtime), actor=Actor.of(principal))
    return ScopeChangePublic.model_validate(stored, from_attributes=True)


@router.post("/organizations/{filing_code}/scope-changes/{change_id}/{decision}", response_model=ScopeChangePublic,
             tags=["scope changes"])
def decide_scope_change(filing_code: str, change_id: int, decision: str, session: SessionDep, runtime: RuntimeDep,
                        principal: Official, reason: Reason | None = None) -> ScopeChangePublic:
    if decision not in ("approve", "reject"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "decide with approve or reject")
    organization = _filed(session, filing_code)
    stored = service.decide_scope_change(
        session=session, organization=organization, change_id=change_id, approve=decision == "approve",
        reason=reason.reason if reason else None, actor=Actor.of(principal), province=runtime.settings.province,
    )
    return ScopeChangePublic.model_validate(stored, from_attributes=True)


# --- the public catalogue -----------------------------------------------------------------------------


@router.get("/organizations", response_model=OrganizationsPublic, tags=["catalogue"])
def catalogue(
    session: SessionDep,
    runtime: RuntimeDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    occupation_code: Annotated[str | None, Query(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")] = None,
    level: Annotated[int | None, Query(ge=-1, le=6)] = None,
    city: Annotated[str | None, Query(max_length=60)] = None,
    status_: Annotated[OrganizationStatus | None, Query(alias="status")] = None,
    skip: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> OrganizationsPublic:
    """The public catalogue of filed organizations [L10, Z四(五)]; no token needed."""
    rows, total = service.search_catalogue(session=session, name=name, occupation_code=occupation_code, level=level,
                                           city=city, status=status_, skip=skip, limit=limit)
    policy = policy_of(runtime)
    return OrganizationsPublic(data=[to_public(o, policy) for o in rows], count=total)


@router.get("/organizations/{filing_code}", response_model=OrganizationPublic, tags=["catalogue"])
def read_organization(filing_code: str, session: SessionDep, runtime: RuntimeDep) -> OrganizationPublic:
    organization = _filed(session, filing_code)
    if organization.status not in (OrganizationStatus.FILED, OrganizationStatus.SUSPENDED):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{filing_code} is {organization.status.value} and no longer "
                                                       "in the catalogue")
    return to_public(organization, policy_of(runtime))
