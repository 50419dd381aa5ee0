"""The registry workflow: application → acceptance → preliminary review → technical assessment → publicity
→ filing → catalogue; then scope changes, renewal, expiry, suspension and revocation.

Plain keyword-only functions over a session. Every state change goes through `_transition`, which
checks it is allowed, writes the audit row and records `organization status changed` in the same
transaction.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from shared.kernel.errors import Conflict, FieldError, FieldErrors, NotFound
from shared.kernel.events import (
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    FiledSite,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    ScopeItem,
)
from shared.kernel.numbering import MAX_SEQUENCE, FilingCode
from shared.kernel.policy import OrgKind, Policy
from shared.kernel.workdays import add_working_days, publicity_end
from shared.kernel.workflow import (
    ObjectionIn,
    ObjectionResolution,
    check_cleared,
    check_within_publicity,
    next_status,
    resolve,
)
from shared.platform.auth import Actor
from shared.platform.outbox import record_event
from shared.platform.sequences import next_value

from . import rules
from .models import (
    IN_CATALOGUE,
    ApplicationCreate,
    AssessmentIn,
    ExpertOpinion,
    Objection,
    OccupationApplied,
    Organization,
    OrganizationStatus,
    ScopeChange,
    ScopeChangeIn,
    Transition,
)
from .occupations import occupation_catalogue

S = OrganizationStatus

# Which action moves which state where. Anything else is refused with 409 and the reason.
ALLOWED: dict[str, tuple[tuple[OrganizationStatus, ...], OrganizationStatus]] = {
    "accept": ((S.SUBMITTED,), S.ACCEPTED),
    "pass_preliminary_review": ((S.ACCEPTED,), S.PRELIMINARY_REVIEWED),
    "pass_technical_assessment": ((S.PRELIMINARY_REVIEWED,), S.TECHNICALLY_ASSESSED),
    "publish": ((S.TECHNICALLY_ASSESSED,), S.IN_PUBLICITY),
    "file": ((S.IN_PUBLICITY,), S.FILED),
    # Organizations filed before this system ran are registered with their original filing date.
    "register_filed": ((S.SUBMITTED,), S.FILED),
    "reject": ((S.SUBMITTED, S.ACCEPTED, S.PRELIMINARY_REVIEWED, S.TECHNICALLY_ASSESSED, S.IN_PUBLICITY), S.REJECTED),
    "renew": ((S.FILED,), S.FILED),
    "suspend": ((S.FILED,), S.SUSPENDED),
    "reinstate": ((S.SUSPENDED,), S.FILED),
    "revoke": ((S.FILED, S.SUSPENDED), S.REVOKED),
    "expire": ((S.FILED, S.SUSPENDED), S.EXPIRED),
}


SYSTEM = Actor("registry", "system")


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def scope_of(organization: Organization) -> list[ScopeItem]:
    return [ScopeItem.model_validate(item) for item in organization.scope]


def _applied(organization: Organization) -> list[OccupationApplied]:
    return [OccupationApplied.model_validate(item) for item in organization.scope]


def get_organization(*, session: Session, organization_id: int) -> Organization:
    organization = session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(f"no application or organization {organization_id}")
    return organization


def get_filed(*, session: Session, filing_code: str) -> Organization:
    organization = session.exec(select(Organization).where(Organization.filing_code == filing_code)).first()
    if organization is None:
        raise NotFound(f"no organization filed with code {filing_code}")
    return organization


def peer_institutions(session: Session, *, exclude_id: int | None = None) -> list[rules.PeerInstitution]:
    statement = select(Organization).where(
        Organization.kind == OrgKind.TRAINING_INSTITUTION, col(Organization.status).in_(IN_CATALOGUE)
    )
    return [
        rules.PeerInstitution(o.city, o.county, frozenset(str(item["occupation_code"]) for item in o.scope))
        for o in session.exec(statement)
        if o.id != exclude_id
    ]


def _transition(
    session: Session, organization: Organization, action: str, actor: Actor, *, province: str,
    reason: str | None = None,
) -> None:
    target = next_status(ALLOWED, action, organization.status, f"organization {organization.id}")
    previous = organization.status
    organization.status = target
    session.add(organization)
    session.flush()
    assert organization.id is not None
    session.add(Transition(organization_id=organization.id, from_status=previous, to_status=target, action=action,
                           reason=reason, actor=actor.subject, actor_role=actor.role))
    payload = OrganizationStatusChanged(
        application_id=organization.id, filing_code=organization.filing_code, name=organization.name,
        from_status=previous.value, to_status=target.value, action=action, reason=reason, actor=actor.subject,
        actor_role=actor.role, valid_until=organization.valid_until,
    )
    subject = organization.filing_code or f"application-{organization.id}"
    event = ORGANIZATION_STATUS_CHANGED.make(province=province, subject=subject, payload=payload)
    record_event(session, ORGANIZATION_STATUS_CHANGED, event, key=subject)


# --- application to filing -------------------------------------------------------------------------


def submit_application(
    *, session: Session, application: ApplicationCreate, policy: Policy, actor: Actor, today: date | None = None
) -> Organization:
    """Checks every rule of the province's policy; stores nothing if any fails (422 with all of them)."""
    errors = rules.check_application(application, policy=policy, catalogue=occupation_catalogue(),
                                     peers=peer_institutions(session))
    if errors:
        raise FieldErrors(errors)
    submitted_on = today or date.today()
    organization = Organization.model_validate(
        application,
        update={
            "org_type": application.kind.type_letter,
            "province": policy.code,
            "status": S.SUBMITTED,
            "scope": [item.model_dump() for item in application.occupations],
            "sites": [site.model_dump() for site in application.sites],
            "materials": [material.model_dump(mode="json") for material in application.materials],
            "majors": [major.model_dump() for major in application.majors],
            "submitted_on": submitted_on,
            "acceptance_due_on": add_working_days(submitted_on, policy.periods.acceptance_working_days),
        },
    )
    session.add(organization)
    session.flush()
    assert organization.id is not None
    session.add(Transition(organization_id=organization.id, from_status=None, to_status=S.SUBMITTED,
                           action="submit", actor=actor.subject, actor_role=actor.role))
    payload = OrganizationStatusChanged(
        application_id=organization.id, name=organization.name, from_status=None, to_status=S.SUBMITTED.value,
        action="submit", actor=actor.subject, actor_role=actor.role,
    )
    event = ORGANIZATION_STATUS_CHANGED.make(province=policy.code, subject=f"application-{organization.id}",
                                             payload=payload)
    record_event(session, ORGANIZATION_STATUS_CHANGED, event, key=f"application-{organization.id}")
    session.commit()
    session.refresh(organization)
    return organization


def accept(*, session: Session, organization: Organization, actor: Actor, province: str,
           today: date | None = None) -> Organization:
    organization.accepted_on = today or date.today()
    _transition(session, organization, "accept", actor, province=province)
    return _commit(session, organization)


def preliminary_review(*, session: Session, organization: Organization, passed: bool, reason: str | None,
                       actor: Actor, province: str) -> Organization:
    action = "pass_preliminary_review" if passed else "reject"
    if not passed and organization.status is not S.ACCEPTED:
        raise Conflict(f"organization {organization.id} is {organization.status.value}, not under preliminary review")
    _transition(session, organization, action, actor, province=province, reason=reason)
    return _commit(session, organization)


def technical_assessment(*, session: Session, organization: Organization, assessment: AssessmentIn, actor: Actor,
                         province: str) -> Organization:
    """Expert opinions: material check, expert argument and on-site visit are all required [L8]."""
    kinds = {opinion.kind for opinion in assessment.opinions}
    missing = {"material_check", "argument", "on_site"} - kinds
    if missing:
        raise FieldError("opinions", f"the technical assessment needs opinions of every kind; missing: "
                                     f"{', '.join(sorted(missing))} [L8]")
    if organization.status is not S.PRELIMINARY_REVIEWED:
        raise Conflict(f"organization {organization.id} is {organization.status.value}, not awaiting assessment")
    assert organization.id is not None
    for opinion in assessment.opinions:
        session.add(ExpertOpinion(organization_id=organization.id, **opinion.model_dump()))
    failed = [o for o in assessment.opinions if not o.passed]
    if failed:
        reason = "; ".join(f"{o.kind} by {o.expert}: {o.note or 'not passed'}" for o in failed)
        _transition(session, organization, "reject", actor, province=province, reason=reason)
    else:
        _transition(session, organization, "pass_technical_assessment", actor, province=province)
    return _commit(session, organization)


def publish(*, session: Session, organization: Organization, published_on: date, policy: Policy,
            actor: Actor) -> Organization:
    organization.publicity_from = published_on
    organization.publicity_until = publicity_end(published_on, policy.periods.publicity_min_working_days)
    _transition(session, organization, "publish", actor, province=policy.code,
                reason=f"publicity {published_on} to {organization.publicity_until}")
    return _commit(session, organization)


def raise_objection(*, session: Session, organization: Organization, objection_in: ObjectionIn) -> Objection:
    if organization.status is not S.IN_PUBLICITY:
        raise Conflict(f"organization {organization.id} is {organization.status.value}; objections are taken "
                       "during publicity")
    assert organization.id is not None and organization.publicity_from and organization.publicity_until
    check_within_publicity(objection_in.raised_on, organization.publicity_from, organization.publicity_until)
    objection = Objection(organization_id=organization.id, **objection_in.model_dump())
    session.add(objection)
    session.commit()
    session.refresh(objection)
    return objection


def resolve_objection(*, session: Session, organization: Organization, objection_id: int,
                      resolution: ObjectionResolution, today: date | None = None) -> Objection:
    objection = session.get(Objection, objection_id)
    if objection is None or objection.organization_id != organization.id:
        raise NotFound(f"no objection {objection_id} on organization {organization.id}")
    resolve(objection, objection_id, resolution, today or date.today())
    session.add(objection)
    session.commit()
    session.refresh(objection)
    return objection


def objections_of(session: Session, organization_id: int) -> list[Objection]:
    return list(session.exec(select(Objection).where(Objection.organization_id == organization_id)
                             .order_by(col(Objection.id))))


def file(*, session: Session, organization: Organization, policy: Policy, actor: Actor,
         today: date | None = None, action: str = "file") -> Organization:
    """Files the organization after a completed publicity with every objection resolved and none upheld."""
    today = today or date.today()
    if organization.status is S.IN_PUBLICITY:
        assert organization.publicity_until is not None and organization.id is not None
        if today <= organization.publicity_until:
            raise Conflict(f"the publicity runs until {organization.publicity_until}; file after it [L9]")
        check_cleared([(o.id, o.upheld) for o in objections_of(session, organization.id)],
                      if_upheld="reject the application instead", article="L9")
    sequence = next_value(session, f"filing:{policy.code}", maximum=MAX_SEQUENCE)
    organization.sequence = sequence
    organization.filing_code = str(FilingCode(organization.org_type, organization.national_code, policy.code,
                                              sequence))
    organization.filed_on = today
    organization.valid_until = add_years(today, policy.filing.validity_years)
    _transition(session, organization, action, actor, province=policy.code)
    _record_filed(session, organization, policy.code)
    return _commit(session, organization)


def _record_filed(session: Session, organization: Organization, province: str) -> None:
    assert organization.filing_code and organization.filed_on and organization.valid_until
    payload = OrganizationFiled(
        filing_code=organization.filing_code, name=organization.name, credit_code=organization.credit_code,
        org_type=organization.org_type, province=province, city=organization.city, address=organization.address,
        scope=scope_of(organization), filed_on=organization.filed_on, valid_until=organization.valid_until,
        evaluation_scope=organization.evaluation_scope.value,
        sites=[FiledSite.model_validate(site) for site in organization.sites],
    )
    event = ORGANIZATION_FILED.make(province=province, subject=organization.filing_code, payload=payload)
    record_event(session, ORGANIZATION_FILED, event, key=organization.filing_code)


def reject(*, session: Session, organization: Organization, reason: str, actor: Actor,
           province: str) -> Organization:
    _transition(session, organization, "reject", actor, province=province, reason=reason)
    return _commit(session, organization)


def _commit(session: Session, organization: Organization) -> Organization:
    session.commit()
    session.refresh(organization)
    return organization


# --- after filing ----------------------------------------------------------------------------------


def renew(*, session: Session, organization: Organization, policy: Policy, actor: Actor,
          today: date | None = None) -> Organization:
    """Renewal on evaluation, within the window before expiry; validity runs on from the old end [L9]."""
    today = today or date.today()
    assert organization.valid_until is not None
    opens = organization.valid_until.toordinal() - policy.filing.renewal_window_days
    if today.toordinal() < opens:
        raise Conflict(f"renewal opens {policy.filing.renewal_window_days} days before expiry "
                       f"({date.fromordinal(opens)}) [{policy.filing.source}]")
    organization.valid_until = add_years(organization.valid_until, policy.filing.validity_years)
    _transition(session, organization, "renew", actor, province=policy.code,
                reason=f"valid until {organization.valid_until}")
    return _commit(session, organization)


def sanction(*, session: Session, organization: Organization, action: str, reason: str, actor: Actor,
             province: str) -> Organization:
    """Suspension, reinstatement or revocation (revocation removes it from the catalogue) [L28]."""
    _transition(session, organization, action, actor, province=province, reason=reason)
    return _commit(session, organization)


def expire_due(*, session: Session, province: str, today: date | None = None) -> list[str]:
    """Expires every filing whose 3-year validity has passed without renewal; returns their codes."""
    today = today or date.today()
    due = session.exec(select(Organization).where(
        col(Organization.status).in_(IN_CATALOGUE), col(Organization.valid_until) < today
    )).all()
    for organization in due:
        _transition(session, organization, "expire", SYSTEM, province=province,
                    reason=f"filing validity ended {organization.valid_until}")
    session.commit()
    return [o.filing_code for o in due if o.filing_code]


# --- scope changes -----------------------------------------------------------------------------------


def request_scope_change(*, session: Session, organization: Organization, change: ScopeChangeIn, policy: Policy,
                         actor: Actor) -> ScopeChange:
    if organization.status is not S.FILED:
        raise Conflict(f"organization {organization.filing_code} is {organization.status.value}; only a filed "
                       "organization may change its scope")
    new_scope = _changed_scope(organization, change)
    applicant = rules.Applicant(organization.kind, organization.admin_level, organization.evaluation_scope,
                                organization.city, organization.county, organization.main_business_occupations,
                                [rules.Major.model_validate(m) for m in organization.majors],
                                organization.self_evaluation_scope)
    errors = rules.check_occupations(new_scope, applicant, policy=policy, catalogue=occupation_catalogue(),
                                     peers=peer_institutions(session, exclude_id=organization.id), field="scope")
    if errors:
        raise FieldErrors(errors)
    assert organization.id is not None
    scope_change = ScopeChange(
        organization_id=organization.id, add=[i.model_dump() for i in change.add],
        modify=[i.model_dump() for i in change.modify], delete=change.delete, submitted_by=actor.subject,
    )
    session.add(scope_change)
    session.commit()
    session.refresh(scope_change)
    return scope_change


def _changed_scope(organization: Organization, change: ScopeChangeIn) -> list[OccupationApplied]:
    current = {item.occupation_code: item for item in _applied(organization)}
    for index, item in enumerate(change.add):
        if item.occupation_code in current:
            raise FieldError(f"add.{index}.occupation_code", f"{item.occupation_code} is already in the scope")
        current[item.occupation_code] = item
    for index, item in enumerate(change.modify):
        if item.occupation_code not in current:
            raise FieldError(f"modify.{index}.occupation_code", f"{item.occupation_code} is not in the scope")
        current[item.occupation_code] = item
    for index, code in enumerate(change.delete):
        if current.pop(code, None) is None:
            raise FieldError(f"delete.{index}", f"{code} is not in the scope")
    if not current:
        raise FieldError("delete", "a scope change cannot remove every occupation; revocation does that")
    return list(current.values())


def decide_scope_change(*, session: Session, organization: Organization, change_id: int, approve: bool,
                        reason: str | None, actor: Actor, province: str) -> ScopeChange:
    scope_change = session.get(ScopeChange, change_id)
    if scope_change is None or scope_change.organization_id != organization.id:
        raise NotFound(f"no scope change {change_id} for {organization.filing_code}")
    if scope_change.status != "submitted":
        raise Conflict(f"scope change {change_id} was already {scope_change.status}")
    scope_change.status = "approved" if approve else "rejected"
    scope_change.decided_by = actor.subject
    scope_change.reason = reason
    session.add(scope_change)
    if approve:
        change = ScopeChangeIn(add=scope_change.add, modify=scope_change.modify,  # type: ignore[arg-type]
                               delete=scope_change.delete)
        organization.scope = [item.model_dump() for item in _changed_scope(organization, change)]
        session.add(organization)
        assert organization.filing_code is not None and scope_change.id is not None
        payload = OrganizationScopeChanged(filing_code=organization.filing_code, scope=scope_of(organization),
                                           change_id=scope_change.id)
        event = ORGANIZATION_SCOPE_CHANGED.make(province=province, subject=organization.filing_code, payload=payload)
        record_event(session, ORGANIZATION_SCOPE_CHANGED, event, key=organization.filing_code)
    session.commit()
    session.refresh(scope_change)
    return scope_change


# --- reading -----------------------------------------------------------------------------------------


def transitions_of(session: Session, organization_id: int) -> list[Transition]:
    return list(session.exec(select(Transition).where(Transition.organization_id == organization_id)
                             .order_by(col(Transition.id))))


def search_catalogue(
    *, session: Session, name: str | None = None, occupation_code: str | None = None, level: int | None = None,
    city: str | None = None, status: OrganizationStatus | None = None, skip: int = 0, limit: int = 50,
) -> tuple[list[Organization], int]:
    """The public catalogue: filed (and suspended) organizations; revoked and expired ones are removed."""
    statement = select(Organization).where(col(Organization.status).in_(IN_CATALOGUE))
    if status is not None:
        statement = statement.where(Organization.status == status)
    if name:
        statement = statement.where(col(Organization.name).contains(name))
    if city:
        statement = statement.where(Organization.city == city)
    rows = list(session.exec(statement.order_by(col(Organization.filing_code))))
    if occupation_code or level is not None:
        rows = [o for o in rows if any(
            (not occupation_code or item["occupation_code"] == occupation_code)
            and (level is None or level in item["levels"])  # type: ignore[operator]
            for item in o.scope)]
    return rows[skip: skip + limit], len(rows)

