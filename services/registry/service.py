"""The registry workflow: application → acceptance → preliminary review → technical assessment → publicity
→ filing → catalogue; then scope changes, renewal, expiry, suspension and revocation.

Keyword-only functions over a unit of work (shared.platform.unit): they flush and emit, and the edge that
made the unit commits. Every state change goes through `_transition`, which checks it is allowed, writes the
audit row and emits `organization status changed` in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, delete, select

from shared.kernel.errors import Conflict, FieldError, FieldErrors, Forbidden, NotFound
from shared.kernel.events import (
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    CreditEntryRecorded,
    ExpertsDispatched,
    FiledSite,
    OrganizationDetailsChanged,
    OrganizationFiled,
    OrganizationRated,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    SanctionImposed,
    ScopeItem,
)
from shared.kernel.identity import RESIDENT_ID_CARD, normal_id_number, valid_credit_code
from shared.kernel.numbering import MAX_SEQUENCE, FilingCode, NumberError
from shared.kernel.policy import ChangeKind, OrgKind, Policy
from shared.kernel.regions import province_region, region_name
from shared.kernel.workdays import add_working_days, add_years, publicity_end
from shared.kernel.workflow import (
    ObjectionCreate,
    ObjectionResolution,
    check_cleared,
    check_within_publicity,
    next_status,
    resolve,
)
from shared.platform.auth import Actor, Principal
from shared.platform.db import fetch, locked, upsert
from shared.platform.sequences import SequenceCounter, next_value
from shared.platform.unit import Unit

from . import rules
from .models import (
    IN_CATALOGUE,
    AddedOccupation,
    ApplicationCreate,
    ApplicationPublic,
    AssessmentCreate,
    AssessmentPanelMember,
    CatalogueOccupation,
    CatalogueRating,
    ChangeAssessment,
    ChangeCreate,
    CreditRecordEntry,
    ExpertOpinion,
    FiledOrganizationCreate,
    Major,
    Objection,
    ObjectionPublic,
    OccupationApplied,
    OccupationCreate,
    OccupationPublic,
    OpinionPublic,
    Organization,
    OrganizationPublic,
    OrganizationStatus,
    PanelMemberPublic,
    RatingPublic,
    ScopeChange,
    ScopeChangeCreate,
    ScopeChangePublic,
    ScopeRowKey,
    Transition,
    TransitionPublic,
)
from .occupations import Occupation, occupation_catalogue
from .settings import RegistrySettings

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
    # 移出目录 [G四(一)]: out of the catalogue like a revocation, recorded as its own action.
    "remove": ((S.FILED, S.SUSPENDED), S.REVOKED),
    "expire": ((S.FILED, S.SUSPENDED), S.EXPIRED),
}


SYSTEM = Actor("registry", "system")


def scope_of(organization: Organization) -> list[ScopeItem]:
    return [ScopeItem.model_validate(item) for item in organization.scope]


def _applied(organization: Organization) -> list[OccupationApplied]:
    return [OccupationApplied.model_validate(item) for item in organization.scope]


def get_organization(*, unit: Unit[RegistrySettings], organization_id: int) -> Organization:
    """The application or organization; locked when the unit changes something, so two officials pressing the
    same button queue here and the second meets what the first did (a 409, not a second filing code)."""
    organization = fetch(unit.session, Organization, organization_id, lock=unit.changing)
    if organization is None:
        raise NotFound(f"no application or organization {organization_id}")
    return organization


def get_filed(*, unit: Unit[RegistrySettings], filing_code: str) -> Organization:
    """The filed organization, locked as `get_organization` locks it."""
    organization_id = unit.session.exec(select(Organization.id).where(Organization.filing_code == filing_code)).first()
    if organization_id is None:
        raise NotFound(f"no organization filed with code {filing_code}")
    return get_organization(unit=unit, organization_id=organization_id)


def ensure_acts(*, unit: Unit[RegistrySettings], organization: Organization, principal: Principal, step: str) -> None:
    """403 unless the principal is an official of the division that selects the application (for `step`)
    [L3, L5, L8, L9; Z五(一)]. A refusal after the city's report, and the filing, are the province's."""
    if step == "reject":
        if organization.selection_reported_on is not None:
            step = "report_review"
        elif organization.status in (S.SUBMITTED, S.ACCEPTED):
            step = "preliminary_review"
        else:
            step = "technical_assessment"
    if step == "file":
        step = "report_review"
    refusal = rules.official_refusal(
        role=principal.role.value,
        region=principal.region,
        selected_by=organization.selected_by,
        step=step,
        policy=unit.policy,
    )
    if refusal is not None:
        raise Forbidden(refusal)


def ensure_sees(*, unit: Unit[RegistrySettings], organization: Organization, principal: Principal) -> None:
    if not rules.may_see(
        role=principal.role.value,
        region=principal.region,
        selected_by=organization.selected_by,
        applicant_region=organization.region,
    ):
        raise Forbidden(
            f"application {organization.id} is selected by {region_name(organization.selected_by)} "
            f"({organization.selected_by}), not within {principal.region} [L3]"
        )


def list_applications(
    *,
    unit: Unit[RegistrySettings],
    principal: Principal,
    status: OrganizationStatus | None = None,
    skip: int = 0,
    limit: int = 50,
) -> tuple[list[Organization], int]:
    """The applications an official sees: a city's those it selects, a county's those of its applicants."""
    statement = select(Organization).order_by(col(Organization.id))
    if status is not None:
        statement = statement.where(Organization.status == status)
    if principal.role.value == "city_official":
        statement = statement.where(Organization.selected_by == principal.region)
    rows = [
        o
        for o in unit.session.exec(statement)
        if rules.may_see(
            role=principal.role.value, region=principal.region, selected_by=o.selected_by, applicant_region=o.region
        )
    ]
    return rows[skip : skip + limit], len(rows)


def peer_institutions(*, unit: Unit[RegistrySettings], exclude_id: int | None = None) -> list[rules.PeerInstitution]:
    statement = select(Organization).where(
        Organization.kind == OrgKind.TRAINING_INSTITUTION, col(Organization.status).in_(IN_CATALOGUE)
    )
    return [
        rules.PeerInstitution(o.city, o.county, frozenset(str(item["occupation_code"]) for item in o.scope))
        for o in unit.session.exec(statement)
        if o.id != exclude_id
    ]


def _transition(
    unit: Unit[RegistrySettings], organization: Organization, action: str, actor: Actor, *, reason: str | None = None
) -> None:
    target = next_status(ALLOWED, action, organization.status, f"organization {organization.id}")
    previous = organization.status
    organization.status = target
    _record_step(unit, organization, previous, action, actor, reason)


def _record_step(
    unit: Unit[RegistrySettings],
    organization: Organization,
    previous: OrganizationStatus | None,
    action: str,
    actor: Actor,
    reason: str | None = None,
) -> None:
    """The trail row of a step to the organization's present state, and its `organization status changed`."""
    _trail(unit, organization, previous, action, actor, reason)
    payload = OrganizationStatusChanged(
        application_id=organization.id,
        filing_code=organization.filing_code,
        name=organization.name,
        from_status=previous.value if previous else None,
        to_status=organization.status.value,
        action=action,
        reason=reason,
        actor=actor.subject,
        actor_role=actor.role,
        valid_until=organization.valid_until,
        effective_on=unit.today,
    )
    unit.emit(
        ORGANIZATION_STATUS_CHANGED,
        subject=organization.filing_code or f"application-{organization.id}",
        payload=payload,
    )


def _trail(
    unit: Unit[RegistrySettings],
    organization: Organization,
    previous: OrganizationStatus | None,
    action: str,
    actor: Actor,
    reason: str | None = None,
) -> None:
    unit.session.add(organization)
    unit.session.flush()
    assert organization.id is not None
    unit.session.add(
        Transition(
            organization_id=organization.id,
            from_status=previous,
            to_status=organization.status,
            action=action,
            reason=reason,
            actor=actor.subject,
            actor_role=actor.role,
        )
    )


# --- application to filing -------------------------------------------------------------------------


def submit_application(*, unit: Unit[RegistrySettings], application: ApplicationCreate, actor: Actor) -> Organization:
    """Checks every rule of the province's policy; stores nothing if any fails (422 with all of them)."""
    policy = unit.policy
    errors = rules.check_application(
        application, policy=policy, catalogue=catalogue(unit=unit), peers=peer_institutions(unit=unit)
    )
    errors += credit_errors(
        unit=unit,
        credit_code=application.credit_code,
        id_type=application.legal_representative_id_type,
        id_number=application.legal_representative_id_number,
    )
    if errors:
        raise FieldErrors(errors)
    submitted_on = unit.today
    region = rules.application_region(application)
    assert region is not None  # check_jurisdiction refused the application otherwise
    organization = Organization.model_validate(
        application,
        update={
            "org_type": application.kind.type_letter,
            "province": policy.code,
            "region": region,
            "selected_by": rules.selecting_region(application, region, policy=policy),
            "licence_warning": rules.licence_warning(application, policy=policy),
            # an organization taken in with its code gets it at its filing, after every check
            "filing_code": None,
            "filed_on": None,
            "valid_until": None,
            "status": S.SUBMITTED,
            "scope": [item.model_dump() for item in application.occupations],
            "sites": [site.model_dump() for site in application.sites],
            "materials": [material.model_dump(mode="json") for material in application.materials],
            "majors": [major.model_dump() for major in application.majors],
            "submitted_on": submitted_on,
            "acceptance_due_on": add_working_days(submitted_on, policy.periods.acceptance_working_days),
        },
    )
    _record_step(unit, organization, None, "submit", actor)
    return organization


def accept(*, unit: Unit[RegistrySettings], organization: Organization, actor: Actor) -> Organization:
    organization.accepted_on = unit.today
    _transition(unit, organization, "accept", actor)
    return organization


def preliminary_review(
    *, unit: Unit[RegistrySettings], organization: Organization, passed: bool, reason: str | None, actor: Actor
) -> Organization:
    action = "pass_preliminary_review" if passed else "reject"
    if not passed and organization.status is not S.ACCEPTED:
        raise Conflict(f"organization {organization.id} is {organization.status.value}, not under preliminary review")
    _transition(unit, organization, action, actor, reason=reason)
    return organization


def technical_assessment(
    *, unit: Unit[RegistrySettings], organization: Organization, assessment: AssessmentCreate, actor: Actor
) -> Organization:
    """Expert opinions: material check, expert argument and on-site visit are all required, each by an expert of
    the panel supervision drew for the application [L8, Z五(五)]; during the policy's transition an expert typed
    in is accepted and the opinion marked not drawn. Any failed opinion rejects the application."""
    assert organization.id is not None
    members = panel_of(unit=unit, application_id=organization.id)
    panel = {member.expert_id: member.name for member in members}
    errors = rules.check_assessment(assessment.opinions, panel=panel, policy=unit.policy, today=unit.today)
    errors += rules.panel_applicant_errors(
        {m.drawn_for for m in members if m.drawn_for}, credit_code=organization.credit_code
    )
    errors += rules.check_override(organization.licence_warning, assessment.override_reasons, policy=unit.policy)
    if errors:
        raise FieldErrors(errors)
    if organization.status is not S.PRELIMINARY_REVIEWED:
        raise Conflict(f"organization {organization.id} is {organization.status.value}, not awaiting assessment")
    opinions = [
        ExpertOpinion(
            organization_id=organization.id,
            expert=opinion.expert,
            expert_name=panel.get(opinion.expert),
            drawn=opinion.expert in panel,
            kind=opinion.kind,
            passed=opinion.passed,
            note=opinion.note,
        )
        for opinion in assessment.opinions
    ]
    unit.session.add_all(opinions)
    organization.technically_assessed_on = unit.today
    if organization.licence_warning:
        organization.licence_override = assessment.override_reasons
    failed = [o for o in opinions if not o.passed]
    if failed:
        reason = "; ".join(f"{o.kind} by {_expert_of(o)}: {o.note or 'not passed'}" for o in failed)
        _transition(unit, organization, "reject", actor, reason=reason)
    else:
        _transition(unit, organization, "pass_technical_assessment", actor)
    return organization


def _expert_of(opinion: ExpertOpinion) -> str:
    return f"{opinion.expert_name} ({opinion.expert})" if opinion.drawn else f"{opinion.expert} (not drawn)"


# --- the panel supervision draws for the technical assessment ------------------------------------------


def get_application_of_panel(*, unit: Unit[RegistrySettings], subject: str) -> Organization:
    """The application a drawn panel serves, from its subject `application-<id>`."""
    application_id = rules.application_id_of(subject)
    if application_id is None:
        raise FieldError(
            "subject", f"{subject!r} is not application-<id>: a technical assessment's panel names its application"
        )
    organization = unit.session.get(Organization, application_id)
    if organization is None:
        raise NotFound(f"no application {application_id} for the panel drawn for {subject}")
    return organization


def replace_panel(
    *,
    unit: Unit[RegistrySettings],
    organization: Organization,
    dispatched: ExpertsDispatched,
    dispatched_at: datetime,
) -> list[AssessmentPanelMember]:
    """The latest panel drawn for the application is the whole panel: every member before it is removed (an
    expert named twice is kept once)."""
    assert organization.id is not None
    unit.session.exec(delete(AssessmentPanelMember).where(col(AssessmentPanelMember.application_id) == organization.id))
    members: dict[str, AssessmentPanelMember] = {}
    for expert in dispatched.experts:
        members.setdefault(
            expert.expert_id,
            AssessmentPanelMember(
                application_id=organization.id,
                plan_id=dispatched.plan_id,
                expert_id=expert.expert_id,
                name=expert.name,
                province=expert.province,
                dispatched_at=dispatched_at,
                drawn_for=dispatched.organization_code,
            ),
        )
    unit.session.add_all(members.values())
    unit.session.flush()
    return list(members.values())


def panel_of(*, unit: Unit[RegistrySettings], application_id: int) -> list[AssessmentPanelMember]:
    return list(
        unit.session.exec(
            select(AssessmentPanelMember)
            .where(AssessmentPanelMember.application_id == application_id)
            .order_by(col(AssessmentPanelMember.id))
        )
    )


def opinions_of(*, unit: Unit[RegistrySettings], organization_id: int) -> list[ExpertOpinion]:
    return list(
        unit.session.exec(
            select(ExpertOpinion)
            .where(ExpertOpinion.organization_id == organization_id)
            .order_by(col(ExpertOpinion.id))
        )
    )


def publish(
    *, unit: Unit[RegistrySettings], organization: Organization, published_on: date, actor: Actor
) -> Organization:
    """The publicity of the technical assessment's result, dated by the notice: not before the assessment it
    publishes, nor in the past of the service's clock; it lasts the policy's working days [L9]."""
    next_status(ALLOWED, "publish", organization.status, f"organization {organization.id}")  # 409 before anything
    errors = []
    assessed_on = organization.technically_assessed_on
    if assessed_on is not None and published_on < assessed_on:
        errors.append(
            FieldError("published_on", f"the publicity cannot start before the assessment it publishes ({assessed_on})")
        )
    if published_on < unit.today:
        errors.append(FieldError("published_on", f"{published_on} is in the past: today is {unit.today} [L9]"))
    if errors:
        raise FieldErrors(errors)
    organization.publicity_from = published_on
    organization.publicity_until = publicity_end(published_on, unit.policy.periods.publicity_min_working_days)
    _transition(
        unit, organization, "publish", actor, reason=f"publicity {published_on} to {organization.publicity_until}"
    )
    return organization


def raise_objection(
    *, unit: Unit[RegistrySettings], organization: Organization, objection_in: ObjectionCreate
) -> Objection:
    if organization.status is not S.IN_PUBLICITY:
        raise Conflict(
            f"organization {organization.id} is {organization.status.value}; objections are taken during publicity"
        )
    assert organization.id is not None and organization.publicity_from and organization.publicity_until
    check_within_publicity(objection_in.raised_on, organization.publicity_from, organization.publicity_until)
    objection = Objection(organization_id=organization.id, **objection_in.model_dump())
    unit.session.add(objection)
    unit.session.flush()
    return objection


def resolve_objection(
    *, unit: Unit[RegistrySettings], organization: Organization, objection_id: int, resolution: ObjectionResolution
) -> Objection:
    objection = unit.session.get(Objection, objection_id)
    if objection is None or objection.organization_id != organization.id:
        raise NotFound(f"no objection {objection_id} on organization {organization.id}")
    resolve(objection, objection_id, resolution, unit.today)
    unit.session.add(objection)
    unit.session.flush()
    return objection


def objections_of(*, unit: Unit[RegistrySettings], organization_id: int) -> list[Objection]:
    """The objections to the application's publicity (not those to a later change's)."""
    return list(
        unit.session.exec(
            select(Objection)
            .where(Objection.organization_id == organization_id, col(Objection.change_id).is_(None))
            .order_by(col(Objection.id))
        )
    )


def change_objections_of(*, unit: Unit[RegistrySettings], change_id: int) -> list[Objection]:
    return list(
        unit.session.exec(select(Objection).where(Objection.change_id == change_id).order_by(col(Objection.id)))
    )


def _city_selected(unit: Unit[RegistrySettings], organization: Organization) -> bool:
    return organization.selected_by != province_region(unit.policy.code)


def _check_publicity_over(unit: Unit[RegistrySettings], organization: Organization) -> None:
    """The publicity ended with every objection resolved and none upheld [L9]."""
    assert organization.publicity_until is not None and organization.id is not None
    if unit.today <= organization.publicity_until:
        raise Conflict(f"the publicity runs until {organization.publicity_until}; file after it [L9]")
    check_cleared(
        [(o.id, o.upheld) for o in objections_of(unit=unit, organization_id=organization.id)],
        if_upheld="reject the application instead",
        article="L9",
    )


def report_selection(*, unit: Unit[RegistrySettings], organization: Organization, actor: Actor) -> Organization:
    """The city reports its selection to the province (附件3 遴选确定情况表) after a publicity without objection,
    within the policy's working days of its end; a late report is accepted and flagged [L9]."""
    if not _city_selected(unit, organization):
        raise Conflict(f"application {organization.id} is selected by the province: there is no city report [L5, L9]")
    if organization.status is not S.IN_PUBLICITY:
        raise Conflict(
            f"organization {organization.id} is {organization.status.value}; the city reports after its publicity"
        )
    if organization.selection_reported_on is not None:
        raise Conflict(f"the city reported application {organization.id} on {organization.selection_reported_on}")
    _check_publicity_over(unit, organization)
    assert organization.publicity_until is not None
    selection = unit.policy.selection
    due = add_working_days(organization.publicity_until, selection.city_report_working_days)
    organization.selection_report_due_on = due
    organization.selection_reported_on = unit.today
    late = f", late: due {due} [{selection.source}]" if unit.today > due else f", due {due}"
    _trail(unit, organization, organization.status, "report_selection", actor, f"reported {unit.today}{late}")
    return organization


def file(
    *, unit: Unit[RegistrySettings], organization: Organization, actor: Actor, action: str = "file"
) -> Organization:
    """Files the organization after a completed publicity with every objection resolved and none upheld (and,
    for a city's selection, after the city's report), while neither it nor its legal representative has a
    serious credit entry active (one recorded since the submission stops the filing: 422 naming the entry)
    [L6(一), L9]."""
    today, policy = unit.today, unit.policy
    next_status(ALLOWED, action, organization.status, f"organization {organization.id}")  # 409 before anything
    if organization.status is S.IN_PUBLICITY:
        _check_publicity_over(unit, organization)
        if _city_selected(unit, organization) and organization.selection_reported_on is None:
            raise Conflict(
                f"{region_name(organization.selected_by)} selects application {organization.id}: the province files "
                "it on the city's report (POST /applications/{id}/selection-report) [L9]"
            )
    errors = credit_errors(
        unit=unit,
        credit_code=organization.credit_code,
        id_type=organization.legal_representative_id_type,
        id_number=organization.legal_representative_id_number,
    )
    if errors:
        raise FieldErrors(errors)
    sequence = next_value(unit.session, f"filing:{policy.code}", maximum=MAX_SEQUENCE)
    organization.sequence = sequence
    organization.filing_code = str(FilingCode(organization.org_type, organization.national_code, policy.code, sequence))
    organization.filed_on = today
    organization.valid_until = add_years(today, policy.filing.validity_years)
    _transition(unit, organization, action, actor)
    _emit_filed(unit, organization)
    return organization


def _filed_sites(organization: Organization) -> list[FiledSite]:
    return [FiledSite.model_validate(site) for site in organization.sites]


def _emit_filed(unit: Unit[RegistrySettings], organization: Organization) -> None:
    assert organization.filing_code and organization.filed_on and organization.valid_until
    payload = OrganizationFiled(
        filing_code=organization.filing_code,
        name=organization.name,
        credit_code=organization.credit_code,
        org_type=organization.org_type,
        province=unit.province,
        city=organization.city,
        scope=scope_of(organization),
        filed_on=organization.filed_on,
        valid_until=organization.valid_until,
        evaluation_scope=organization.evaluation_scope.value,
        selected_by=organization.selected_by,
        **_public_details(organization),
    )
    unit.emit(ORGANIZATION_FILED, subject=organization.filing_code, payload=payload)


def _public_details(organization: Organization) -> dict[str, Any]:
    """What the catalogue shows of an organization besides its name and scope [L10 附件4], as events carry it."""
    return {
        "short_name": organization.short_name,
        "address": organization.address,
        "region": organization.region,
        "contact": organization.contact_name,
        "phone": organization.contact_phone,
        "email": organization.email,
        "website": organization.website,
        "sites": _filed_sites(organization),
    }


def _filing_code_errors(unit: Unit[RegistrySettings], filed: FiledOrganizationCreate) -> list[FieldError]:
    """An existing code taken in: the province's, of the organization's type, its sequence unused here."""
    try:
        code = FilingCode.parse(filed.filing_code)
    except NumberError as error:
        return [FieldError("filing_code", str(error))]
    errors = []
    if code.province != unit.policy.code:
        errors.append(
            FieldError("filing_code", f"positions 6-7 ({code.province}) are not this province's ({unit.policy.code})")
        )
    if filed.valid_until < unit.today:
        errors.append(FieldError("valid_until", f"the filing lapsed on {filed.valid_until}: it cannot be taken in"))
    if code.org_type != filed.kind.type_letter:
        errors.append(
            FieldError(
                "filing_code", f"position 1 is {code.org_type}; a {filed.kind.value} is {filed.kind.type_letter}"
            )
        )
    taken = unit.session.exec(
        select(Organization.filing_code).where(
            or_(
                col(Organization.filing_code) == str(code),
                (col(Organization.sequence) == code.sequence) & (col(Organization.national_code) == code.national_code),
            )
        )
    ).first()
    if taken:
        errors.append(FieldError("filing_code", f"sequence {code.sequence:06d} is already used here by {taken}"))
    return errors


def _move_sequence_past(unit: Unit[RegistrySettings], sequence: int) -> None:
    """The province's filing sequence continues after a code taken in, so later filings never collide."""
    name = f"filing:{unit.policy.code}"
    counter = unit.session.get(SequenceCounter, name)
    if counter is None:
        counter = SequenceCounter(name=name, value=0)
    if counter.value < sequence:
        counter.value = sequence
        unit.session.add(counter)
        unit.session.flush()


def register_filed(*, unit: Unit[RegistrySettings], application: FiledOrganizationCreate, actor: Actor) -> Organization:
    """An organization the province filed before this system ran, or one the ministry filed (positions 2-5 not
    0000), taken in with its code, filing date and validity [L9, L附件6]: every rule is checked, the code must
    be the province's and its sequence unused here, and the province's sequence moves past a provincial code.
    One transaction: a refusal leaves nothing behind."""
    errors = _filing_code_errors(unit, application)
    try:
        organization = submit_application(unit=unit, application=application, actor=actor)
    except FieldErrors as refused:
        raise FieldErrors(errors + refused.errors) from refused
    if errors:
        raise FieldErrors(errors)
    code = FilingCode.parse(application.filing_code)
    organization.national_code = code.national_code
    if code.national_code == "0000":
        _move_sequence_past(unit, code.sequence)
    organization.sequence = code.sequence
    organization.filing_code = str(code)
    organization.filed_on = application.filed_on
    organization.valid_until = application.valid_until
    _transition(unit, organization, "register_filed", actor, reason=f"filed {application.filed_on} as {code}")
    _emit_filed(unit, organization)
    return organization


def reject(*, unit: Unit[RegistrySettings], organization: Organization, reason: str, actor: Actor) -> Organization:
    _transition(unit, organization, "reject", actor, reason=reason)
    return organization


# --- after filing ----------------------------------------------------------------------------------


def renew(*, unit: Unit[RegistrySettings], organization: Organization, actor: Actor) -> Organization:
    """Renewal on evaluation, within the window before expiry; validity runs on from the old end [L9]."""
    today, policy = unit.today, unit.policy
    assert organization.valid_until is not None
    opens = organization.valid_until.toordinal() - policy.filing.renewal_window_days
    if today.toordinal() < opens:
        raise Conflict(
            f"renewal opens {policy.filing.renewal_window_days} days before expiry "
            f"({date.fromordinal(opens)}) [{policy.filing.source}]"
        )
    organization.valid_until = add_years(organization.valid_until, policy.filing.validity_years)
    _transition(unit, organization, "renew", actor, reason=f"valid until {organization.valid_until}")
    return organization


def sanction(
    *, unit: Unit[RegistrySettings], organization: Organization, action: str, reason: str, actor: Actor
) -> Organization:
    """Suspension, reinstatement or revocation (revocation removes it from the catalogue) [L28]."""
    _transition(unit, organization, action, actor, reason=reason)
    return organization


def record_measure(
    *, unit: Unit[RegistrySettings], organization: Organization, measure: str, reason: str, actor: Actor
) -> None:
    """A measure that changes no state (rectification, or anything on a revoked organization): on the trail."""
    _trail(unit, organization, organization.status, measure, actor, reason)


# Supervision's measures that change the filing, and the registry's action for each [L28, G四(一), Z五(五)].
MEASURE_ACTIONS = {
    "suspension": "suspend",
    "suspension_lifted": "reinstate",
    "revocation": "revoke",
    "removal": "remove",
}
OUT_OF_CATALOGUE = (S.REVOKED, S.EXPIRED)


def measure_reason(sanction: SanctionImposed) -> str:
    """The trail's reason: the measure, the finding, the decision (day, case, official), the article, a deadline."""
    decision = [f"decided {sanction.decided_on}"]
    if sanction.case_id:
        decision.append(f"case {sanction.case_id}")
    if sanction.decided_by:
        decision.append(f"by {sanction.decided_by}")
    reason = f"{sanction.measure}: {sanction.reason} ({', '.join(decision)})"
    if sanction.article:
        reason += f" [{sanction.article}]"
    if sanction.rectify_by:
        reason += f", rectify by {sanction.rectify_by}"
    return reason


def impose(
    *, unit: Unit[RegistrySettings], organization: Organization, sanction: SanctionImposed, actor: Actor
) -> Organization:
    """Supervision's measure on a filed organization: suspension (again: nothing changes), the suspension lifted
    (reinstated; on an organization not suspended, on the trail only), revocation, removal from the catalogue
    (移出目录: revoked by its own action `remove`); rectification, and any measure on an organization already out
    of the catalogue (revoked or expired), are on the trail only."""
    reason = measure_reason(sanction)
    action = MEASURE_ACTIONS.get(sanction.measure)
    if action is None or organization.status in OUT_OF_CATALOGUE:
        record_measure(unit=unit, organization=organization, measure=sanction.measure, reason=reason, actor=actor)
    elif action == "suspend" and organization.status is S.SUSPENDED:
        pass  # already suspended: a second decision to suspend changes nothing
    elif action == "reinstate" and organization.status is not S.SUSPENDED:
        record_measure(
            unit=unit,
            organization=organization,
            measure=sanction.measure,
            reason=f"{reason}; not suspended: nothing to lift",
            actor=actor,
        )
    else:
        _transition(unit, organization, action, actor, reason=reason)
    return organization


# --- supervision's credit record and star ratings -------------------------------------------------------------


def _normal_credit_code(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return valid_credit_code(value)
    except ValueError:
        return value.strip().upper()


def _normal_id_number(id_type: str, value: str | None) -> str | None:
    return None if value is None else normal_id_number(id_type, value)


def keep_credit_entry(
    *, unit: Unit[RegistrySettings], entry: CreditEntryRecorded, recorded_at: datetime
) -> CreditRecordEntry | None:
    """The latest `credit entry recorded` for an entry id is the whole entry: it replaces the row (an older
    version arriving after it is ignored; returns None then). Codes and ID numbers are kept normalised, so they
    match an application's."""
    row = unit.session.get(CreditRecordEntry, entry.entry_id)
    if row is not None and row.recorded_at > recorded_at:
        return None
    id_type = entry.id_type or RESIDENT_ID_CARD
    values = {
        **entry.model_dump(),
        "credit_code": _normal_credit_code(entry.credit_code),
        "filing_code": entry.filing_code.strip().upper() if entry.filing_code else None,
        "id_type": id_type if entry.subject_kind == "person" else entry.id_type,
        "id_number": _normal_id_number(id_type, entry.id_number),
        "recorded_at": recorded_at,
    }
    row = upsert(unit.session, CreditRecordEntry, values, row)
    unit.session.flush()
    return row


def credit_errors(
    *, unit: Unit[RegistrySettings], credit_code: str, id_type: str, id_number: str | None
) -> list[FieldError]:
    """The credit record's serious entries active today against the organization (its credit code, and any
    filing code it holds here) or its legal representative [L6(一), G二(一)1]."""
    filing_codes = frozenset(
        code
        for code in unit.session.exec(
            select(Organization.filing_code).where(
                Organization.credit_code == credit_code, col(Organization.filing_code).is_not(None)
            )
        )
        if code
    )
    matches = [col(CreditRecordEntry.credit_code) == credit_code]
    if filing_codes:
        matches.append(col(CreditRecordEntry.filing_code).in_(filing_codes))
    if id_number is not None:
        matches.append(col(CreditRecordEntry.id_number) == id_number)
    entries = unit.session.exec(
        select(CreditRecordEntry).where(
            CreditRecordEntry.severity == "serious",
            col(CreditRecordEntry.withdrawn).is_(False),
            or_(*matches),
        )
    )
    subject = rules.CreditSubject(credit_code, filing_codes, id_type, id_number)
    return rules.credit_errors(entries, subject, today=unit.today)


def keep_rating(
    *, unit: Unit[RegistrySettings], rated: OrganizationRated, recorded_at: datetime
) -> CatalogueRating | None:
    """The latest star rating of a filed organization [Z五(五)]: a rating of the year kept replaces it (a
    correction), a later year's replaces it, an earlier year's is ignored (returns None)."""
    row = unit.session.get(CatalogueRating, rated.filing_code)
    if row is not None and rated.year < row.year:
        return None
    if row is None:
        row = CatalogueRating(
            filing_code=rated.filing_code,
            year=rated.year,
            stars=rated.stars,
            score=rated.score,
            rated_on=rated.rated_on,
            recorded_at=recorded_at,
        )
    else:
        row.year, row.stars, row.score = rated.year, rated.stars, rated.score
        row.rated_on, row.recorded_at = rated.rated_on, recorded_at
    unit.session.add(row)
    unit.session.flush()
    return row


def ratings_of(*, unit: Unit[RegistrySettings], filing_codes: list[str]) -> dict[str, CatalogueRating]:
    if not filing_codes:
        return {}
    rows = unit.session.exec(select(CatalogueRating).where(col(CatalogueRating.filing_code).in_(filing_codes)))
    return {row.filing_code: row for row in rows}


def expire_due(*, unit: Unit[RegistrySettings]) -> list[str]:
    """Expires every filing whose 3-year validity has passed without renewal; returns their codes."""
    due = unit.session.exec(
        select(Organization).where(
            col(Organization.status).in_(IN_CATALOGUE), col(Organization.valid_until) < unit.today
        )
    ).all()
    for organization in due:
        _transition(unit, organization, "expire", SYSTEM, reason=f"filing validity ended {organization.valid_until}")
    return [o.filing_code for o in due if o.filing_code]


# --- scope changes -----------------------------------------------------------------------------------


def request_scope_change(
    *, unit: Unit[RegistrySettings], organization: Organization, change: ScopeChangeCreate, actor: Actor
) -> ScopeChange:
    if organization.status is not S.FILED:
        raise Conflict(
            f"organization {organization.filing_code} is {organization.status.value}; only a filed "
            "organization may change its scope"
        )
    new_scope = _changed_scope(organization, change)
    applicant = rules.Applicant(
        organization.kind,
        organization.admin_level,
        organization.evaluation_scope,
        organization.city,
        organization.county,
        organization.main_business_occupations,
        [Major.model_validate(m) for m in organization.majors],
        organization.self_evaluation_scope,
    )
    errors = rules.check_occupations(
        new_scope,
        applicant,
        policy=unit.policy,
        catalogue=catalogue(unit=unit),
        peers=peer_institutions(unit=unit, exclude_id=organization.id),
        field="scope",
    )
    if errors:
        raise FieldErrors(errors)
    assert organization.id is not None
    scope_change = ScopeChange(
        organization_id=organization.id,
        add=[i.model_dump() for i in change.add],
        modify=[i.model_dump() for i in change.modify],
        delete=[row.model_dump() for row in change.delete],
        submitted_by=actor.subject,
    )
    unit.session.add(scope_change)
    unit.session.flush()
    return scope_change


def _changed_scope(organization: Organization, change: ScopeChangeCreate) -> list[OccupationApplied]:
    """The scope after the change, one row per (occupation, work type) [S附件3 注6]: a change touches only the
    rows it names and keeps every other work type."""
    current = {(item.occupation_code, item.work_type): item for item in _applied(organization)}
    errors = []
    for index, item in enumerate(change.add):
        key = (item.occupation_code, item.work_type)
        if key in current:
            errors.append(FieldError(f"add.{index}.occupation_code", f"{_label(key)} is already in the scope"))
        current[key] = item
    for index, item in enumerate(change.modify):
        key = (item.occupation_code, item.work_type)
        if key not in current:
            errors.append(FieldError(f"modify.{index}.occupation_code", f"{_label(key)} is not in the scope"))
        current[key] = item
    for index, row in enumerate(change.delete):
        if current.pop((row.occupation_code, row.work_type), None) is None:
            errors.append(FieldError(f"delete.{index}", f"{row.label()} is not in the scope"))
    if errors:
        raise FieldErrors(errors)
    if not current:
        raise FieldError("delete", "a scope change cannot remove every occupation; revocation does that")
    return list(current.values())


def _label(key: tuple[str, str | None]) -> str:
    return key[0] + (f" {key[1]}" if key[1] else "")


def decide_scope_change(
    *,
    unit: Unit[RegistrySettings],
    organization: Organization,
    change_id: int,
    approve: bool,
    reason: str | None,
    actor: Actor,
) -> ScopeChange:
    scope_change = _open_change(unit, organization, change_id)
    if approve:
        _ensure_steps_done(unit, scope_change, before="approval")
    scope_change.status = "approved" if approve else "rejected"
    scope_change.decided_by = actor.subject
    scope_change.reason = reason
    unit.session.add(scope_change)
    if approve and scope_change.kind is not ChangeKind.SCOPE:
        _apply_details(unit, organization, scope_change)
    elif approve:
        change = ScopeChangeCreate(
            add=scope_change.add,
            modify=scope_change.modify,
            delete=[ScopeRowKey.model_validate(row) for row in scope_change.delete],
        )
        organization.scope = [item.model_dump() for item in _changed_scope(organization, change)]
        unit.session.add(organization)
        assert organization.filing_code is not None and scope_change.id is not None
        payload = OrganizationScopeChanged(
            filing_code=organization.filing_code,
            scope=scope_of(organization),
            change_id=scope_change.id,
            effective_on=unit.today,
        )
        unit.emit(ORGANIZATION_SCOPE_CHANGED, subject=organization.filing_code, payload=payload)
    unit.session.flush()
    return scope_change


# --- reading -----------------------------------------------------------------------------------------


def transitions_of(*, unit: Unit[RegistrySettings], organization_id: int) -> list[Transition]:
    return list(
        unit.session.exec(
            select(Transition).where(Transition.organization_id == organization_id).order_by(col(Transition.id))
        )
    )


def search_catalogue(
    *,
    unit: Unit[RegistrySettings],
    name: str | None = None,
    occupation_code: str | None = None,
    level: int | None = None,
    city: str | None = None,
    status: OrganizationStatus | None = None,
    skip: int = 0,
    limit: int = 50,
) -> tuple[list[Organization], int]:
    """The public catalogue: filed (and suspended) organizations; revoked and expired ones are removed."""
    statement = select(Organization).where(col(Organization.status).in_(IN_CATALOGUE))
    if status is not None:
        statement = statement.where(Organization.status == status)
    if name:
        statement = statement.where(col(Organization.name).contains(name, autoescape=True))  # % and _ as typed
    if city:
        statement = statement.where(Organization.city == city)
    rows = list(unit.session.exec(statement.order_by(col(Organization.filing_code))))
    if occupation_code or level is not None:
        rows = [
            o
            for o in rows
            if any(
                (not occupation_code or item["occupation_code"] == occupation_code)
                and (level is None or level in item["levels"])  # type: ignore[operator]
                for item in o.scope
            )
        ]
    return rows[skip : skip + limit], len(rows)


def to_public(organization: Organization, policy: Policy, rating: CatalogueRating | None = None) -> OrganizationPublic:
    """The catalogue entry, with level titles of the province's ladder for the organization's kind and the latest
    star rating."""
    ladder = policy.ladder_for(organization.kind)
    occupations = [
        CatalogueOccupation(
            occupation_code=item.occupation_code,
            occupation_name=item.occupation_name,
            work_type=item.work_type,
            levels=[ladder.title(r) for r in sorted(item.levels)],
        )
        for item in scope_of(organization)
    ]
    fields = {
        name: getattr(organization, name)
        for name in OrganizationPublic.model_fields
        if name not in ("occupations", "rating")
    }
    shown = RatingPublic(year=rating.year, stars=rating.stars, score=rating.score) if rating else None
    return OrganizationPublic(**fields, occupations=occupations, rating=shown)


def catalogue_entries(*, unit: Unit[RegistrySettings], organizations: list[Organization]) -> list[OrganizationPublic]:
    """Catalogue entries with their ratings, read in one query."""
    ratings = ratings_of(unit=unit, filing_codes=[o.filing_code for o in organizations if o.filing_code])
    return [to_public(o, unit.policy, ratings.get(o.filing_code) if o.filing_code else None) for o in organizations]


def catalogue_entry(*, unit: Unit[RegistrySettings], organization: Organization) -> OrganizationPublic:
    [entry] = catalogue_entries(unit=unit, organizations=[organization])
    return entry


def to_application(*, unit: Unit[RegistrySettings], organization: Organization) -> ApplicationPublic:
    """What officials and the applicant see: the catalogue entry, the deadlines, the trail, objections, the drawn
    panel and the expert opinions (each marked drawn or typed in)."""
    assert organization.id is not None
    accepted_or_today = organization.accepted_on or unit.today
    return ApplicationPublic(
        **catalogue_entry(unit=unit, organization=organization).model_dump(),
        id=organization.id,
        credit_code=organization.credit_code,
        affiliation=organization.affiliation,
        selected_by=organization.selected_by,
        basis=organization.basis,
        licence_number=organization.licence_number,
        licence_warning=organization.licence_warning,
        licence_override=organization.licence_override,
        technically_assessed_on=organization.technically_assessed_on,
        selection_report_due_on=organization.selection_report_due_on,
        selection_reported_on=organization.selection_reported_on,
        reported_late=bool(
            organization.selection_reported_on
            and organization.selection_report_due_on
            and organization.selection_reported_on > organization.selection_report_due_on
        ),
        submitted_on=organization.submitted_on,
        acceptance_due_on=organization.acceptance_due_on,
        accepted_on=organization.accepted_on,
        acceptance_overdue=accepted_or_today > organization.acceptance_due_on,
        publicity_from=organization.publicity_from,
        publicity_until=organization.publicity_until,
        trail=[
            TransitionPublic.model_validate(t, from_attributes=True)
            for t in transitions_of(unit=unit, organization_id=organization.id)
        ],
        objections=[
            ObjectionPublic.model_validate(o, from_attributes=True)
            for o in objections_of(unit=unit, organization_id=organization.id)
        ],
        panel=[
            PanelMemberPublic.model_validate(m, from_attributes=True)
            for m in panel_of(unit=unit, application_id=organization.id)
        ],
        opinions=[
            OpinionPublic.model_validate(o, from_attributes=True)
            for o in opinions_of(unit=unit, organization_id=organization.id)
        ],
    )


# --- the occupation catalogue [L12] ---------------------------------------------------------------------


def catalogue(*, unit: Unit[RegistrySettings]) -> dict[str, Occupation]:
    """The bundled catalogue (the whole 大典 with the registry's marks) and the occupations officials added."""
    added = {
        row.code: Occupation(
            code=row.code,
            name=row.name,
            kind="skill",
            levels=row.levels,
            work_types=row.work_types,
            source=row.source,
        )
        for row in unit.session.exec(select(AddedOccupation))
    }
    return {**occupation_catalogue(), **added}


def add_occupation(*, unit: Unit[RegistrySettings], occupation_in: OccupationCreate, actor: Actor) -> Occupation:
    """An occupation published after the 大典 [L12]; a code the catalogue has already is 409, nothing changes."""
    known = catalogue(unit=unit).get(occupation_in.code)
    if known is not None:
        raise Conflict(f"{occupation_in.code} is in the catalogue already: {known.name} ({known.source})")
    unit.session.add(AddedOccupation(**occupation_in.model_dump(), added_by=actor.subject, added_on=unit.today))
    unit.session.flush()
    return catalogue(unit=unit)[occupation_in.code]


def occupation_public(*, unit: Unit[RegistrySettings], occupation: Occupation) -> OccupationPublic:
    return OccupationPublic(
        **occupation.model_dump(),
        category=occupation.category,
        recognisable=rules.recognisable(occupation, unit.policy),
    )


def get_occupation(*, unit: Unit[RegistrySettings], code: str) -> Occupation:
    occupation = catalogue(unit=unit).get(code)
    if occupation is None:
        raise NotFound(f"no occupation {code} in the catalogue (职业分类大典 2022 and later additions)")
    return occupation


def browse_occupations(
    *, unit: Unit[RegistrySettings], q: str | None, category: str | None, skip: int, limit: int
) -> tuple[list[Occupation], int]:
    """By name (a part of it) or code (its start), and 大类; in code order."""
    matches = [
        occupation
        for code, occupation in sorted(catalogue(unit=unit).items())
        if (not q or q in occupation.name or code.startswith(q)) and (not category or occupation.category == category)
    ]
    return matches[skip : skip + limit], len(matches)


# --- changes of sites and details, and the steps of every change [L11; S附件3] -----------------------------


def request_change(
    *, unit: Unit[RegistrySettings], organization: Organization, change: ChangeCreate, actor: Actor
) -> ScopeChange:
    """A filed organization asks to change its exam sites or its information; checked now, applied on approval."""
    if organization.status is not S.FILED:
        raise Conflict(
            f"organization {organization.filing_code} is {organization.status.value}; only a filed one changes"
        )
    if change.sites is not None:
        errors = rules.check_sites(change.sites, policy=unit.policy)
        errors += rules.check_site_leases(change.sites, policy=unit.policy)
        if errors:
            raise FieldErrors(errors)
    assert organization.id is not None
    proposed: dict[str, object] = (
        {"sites": [site.model_dump(mode="json") for site in change.sites]}
        if change.kind is ChangeKind.SITES and change.sites
        else (change.details.model_dump(exclude_none=True) if change.details else {})
    )
    stored = ScopeChange(
        organization_id=organization.id, kind=change.kind, proposed=proposed, submitted_by=actor.subject
    )
    unit.session.add(stored)
    unit.session.flush()
    return stored


def get_change(*, unit: Unit[RegistrySettings], organization: Organization, change_id: int) -> ScopeChange:
    change = unit.session.get(ScopeChange, change_id)
    if change is None or change.organization_id != organization.id:
        raise NotFound(f"no change {change_id} for {organization.filing_code}")
    return change


def _open_change(unit: Unit[RegistrySettings], organization: Organization, change_id: int) -> ScopeChange:
    """The change, locked (two officials pressing the same button queue here), if it is still open."""
    change = locked(unit.session, ScopeChange, change_id)
    if change is None or change.organization_id != organization.id:
        raise NotFound(f"no change {change_id} for {organization.filing_code}")
    if change.status != "submitted":
        raise Conflict(f"change {change_id} was already {change.status}")
    return change


def _ensure_steps_done(unit: Unit[RegistrySettings], change: ScopeChange, *, before: str) -> None:
    """409 naming the first step of the policy's procedure for this kind of change that is not done yet."""
    procedure = unit.policy.change_procedure(change.kind)
    steps = [
        ("acceptance", procedure.acceptance, change.accepted_on is not None),
        ("expert assessment", procedure.expert_assessment, change.assessed_on is not None),
        ("publicity", procedure.publicity, change.published_on is not None),
    ]
    for name, required, done in steps:
        if name == before:
            return
        if required and not done:
            raise Conflict(f"a {change.kind.value} change needs its {name} before its {before} [{procedure.source}]")
    if procedure.publicity and change.publicity_until is not None:
        if unit.today <= change.publicity_until:
            raise Conflict(f"the publicity of change {change.id} runs until {change.publicity_until}")
        assert change.id is not None
        check_cleared(
            [(o.id, o.upheld) for o in change_objections_of(unit=unit, change_id=change.id)],
            if_upheld="reject the change instead",
            article=procedure.source,
        )


def _ensure_procedure_has(unit: Unit[RegistrySettings], change: ScopeChange, step: str, required: bool) -> None:
    if not required:
        procedure = unit.policy.change_procedure(change.kind)
        raise Conflict(
            f"a {change.kind.value} change has no {step} in {unit.policy.name}'s procedure [{procedure.source}]"
        )


def accept_change(*, unit: Unit[RegistrySettings], organization: Organization, change_id: int) -> ScopeChange:
    change = _open_change(unit, organization, change_id)
    _ensure_procedure_has(unit, change, "acceptance", unit.policy.change_procedure(change.kind).acceptance)
    if change.accepted_on is not None:
        raise Conflict(f"change {change_id} was accepted on {change.accepted_on}")
    change.accepted_on = unit.today
    unit.session.add(change)
    unit.session.flush()
    return change


def assess_change(
    *, unit: Unit[RegistrySettings], organization: Organization, change_id: int, assessment: ChangeAssessment
) -> ScopeChange:
    """The experts' assessment of the change (a new site on site, a new occupation on its conditions); failed, it
    ends the change."""
    change = _open_change(unit, organization, change_id)
    _ensure_procedure_has(
        unit, change, "expert assessment", unit.policy.change_procedure(change.kind).expert_assessment
    )
    _ensure_steps_done(unit, change, before="expert assessment")
    if change.assessed_on is not None:
        raise Conflict(f"change {change_id} was assessed on {change.assessed_on}")
    change.assessed_on, change.assessment = unit.today, assessment.reason
    if not assessment.passed:
        change.status, change.reason = "rejected", assessment.reason
    unit.session.add(change)
    unit.session.flush()
    return change


def publish_change(
    *, unit: Unit[RegistrySettings], organization: Organization, change_id: int, published_on: date
) -> ScopeChange:
    change = _open_change(unit, organization, change_id)
    _ensure_procedure_has(unit, change, "publicity", unit.policy.change_procedure(change.kind).publicity)
    _ensure_steps_done(unit, change, before="publicity")
    if change.published_on is not None:
        raise Conflict(f"change {change_id} went into publicity on {change.published_on}")
    earliest = max(unit.today, change.assessed_on or unit.today)
    if published_on < earliest:
        raise FieldErrors(
            [
                FieldError(
                    "published_on",
                    f"a publicity starts on {earliest} or later: not in the past nor before its assessment",
                )
            ]
        )
    change.published_on = published_on
    change.publicity_until = publicity_end(published_on, unit.policy.periods.publicity_min_working_days)
    unit.session.add(change)
    unit.session.flush()
    return change


def raise_change_objection(
    *, unit: Unit[RegistrySettings], organization: Organization, change_id: int, objection_in: ObjectionCreate
) -> Objection:
    """An objection to a change in publicity, raised within it [L9, L11]; approval waits until every one is
    resolved, and an upheld one stops it."""
    change = _open_change(unit, organization, change_id)
    _ensure_procedure_has(unit, change, "publicity", unit.policy.change_procedure(change.kind).publicity)
    if change.published_on is None or change.publicity_until is None:
        raise Conflict(f"change {change_id} is not in publicity: objections are taken during it")
    check_within_publicity(objection_in.raised_on, change.published_on, change.publicity_until)
    assert organization.id is not None
    objection = Objection(organization_id=organization.id, change_id=change_id, **objection_in.model_dump())
    unit.session.add(objection)
    unit.session.flush()
    return objection


def resolve_change_objection(
    *,
    unit: Unit[RegistrySettings],
    organization: Organization,
    change_id: int,
    objection_id: int,
    resolution: ObjectionResolution,
) -> Objection:
    _open_change(unit, organization, change_id)
    objection = unit.session.get(Objection, objection_id)
    if objection is None or objection.change_id != change_id:
        raise NotFound(f"no objection {objection_id} to change {change_id}")
    resolve(objection, objection_id, resolution, unit.today)
    unit.session.add(objection)
    unit.session.flush()
    return objection


def change_public(*, unit: Unit[RegistrySettings], change: ScopeChange) -> ScopeChangePublic:
    """A change as its requester and the officials see it, with the objections to its publicity."""
    assert change.id is not None
    public = ScopeChangePublic.model_validate(change, from_attributes=True)
    public.objections = [
        ObjectionPublic.model_validate(o, from_attributes=True)
        for o in change_objections_of(unit=unit, change_id=change.id)
    ]
    return public


def _apply_details(unit: Unit[RegistrySettings], organization: Organization, change: ScopeChange) -> None:
    """The approved sites or details, and the organization as it now is to every reader [L10 附件4]."""
    if change.kind is ChangeKind.SITES:
        organization.sites = list(change.proposed["sites"])  # type: ignore[call-overload]
    else:
        for name, value in change.proposed.items():
            setattr(organization, name, value)
    unit.session.add(organization)
    assert organization.filing_code is not None and change.id is not None
    payload = OrganizationDetailsChanged(
        filing_code=organization.filing_code,
        change_id=change.id,
        name=organization.name,
        effective_on=unit.today,
        **_public_details(organization),
    )
    unit.emit(ORGANIZATION_DETAILS_CHANGED, subject=organization.filing_code, payload=payload)
