"""The eligibility rules an application (or a scope change) must meet, read from the province's policy.

Each check returns the FieldErrors it finds, naming the field, the reason and the article, so the
applicant sees every problem at once. Nothing here names a province.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from shared.kernel.errors import FieldError
from shared.kernel.identity import RESIDENT_ID_CARD
from shared.kernel.policy import AdminLevel, EvaluationScope, OrgKind, Policy
from shared.kernel.regions import city_of, province_of, province_region, region_exists, region_name, within

from .models import (
    REQUIRED_MATERIALS,
    ApplicationCreate,
    Basis,
    CreditRecordEntry,
    Major,
    Material,
    OccupationApplied,
    OpinionCreate,
    Site,
)
from .occupations import Occupation


@dataclass(frozen=True)
class Applicant:
    """What the rules need to know of an organization, whether applying or changing its scope."""

    kind: OrgKind
    admin_level: AdminLevel | None
    evaluation_scope: EvaluationScope
    city: str
    county: str | None
    main_business_occupations: Sequence[str]
    majors: Sequence[Major]
    self_evaluation_scope: Sequence[str]

    @classmethod
    def of(cls, application: ApplicationCreate) -> Applicant:
        return cls(
            application.kind,
            application.admin_level,
            application.evaluation_scope,
            application.city,
            application.county,
            application.main_business_occupations,
            application.majors,
            application.self_evaluation_scope,
        )


@dataclass(frozen=True)
class PeerInstitution:
    """A filed training institution, for the per-city and per-county caps."""

    city: str
    county: str | None
    occupation_codes: frozenset[str]


def check_application(
    application: ApplicationCreate,
    *,
    policy: Policy,
    catalogue: dict[str, Occupation],
    peers: Iterable[PeerInstitution],
) -> list[FieldError]:
    applicant = Applicant.of(application)
    return [
        *check_occupations(application.occupations, applicant, policy=policy, catalogue=catalogue, peers=list(peers)),
        *check_thresholds(application, policy=policy),
        *check_materials(
            application.materials,
            application.sites,
            application.full_time_staff,
            policy=policy,
            examiners=application.examiners,
            quality_supervisors=application.quality_supervisors,
        ),
        *check_jurisdiction(application, policy=policy),
        *check_sites(application.sites, policy=policy),
    ]


def check_sites(sites: Sequence[Site], *, policy: Policy, field: str = "sites") -> list[FieldError]:
    """A site's division, when given, is the province's."""
    return [
        FieldError(f"{field}.{index}.region", f"{site.region} is outside {policy.name}")
        for index, site in enumerate(sites)
        if site.region is not None and province_of(site.region) != policy.code
    ]


def check_occupations(
    occupations: Sequence[OccupationApplied],
    applicant: Applicant,
    *,
    policy: Policy,
    catalogue: dict[str, Occupation],
    peers: Sequence[PeerInstitution],
    field: str = "occupations",
) -> list[FieldError]:
    errors: list[FieldError] = []
    ladder = policy.ladder_for(applicant.kind)
    authority = policy.authority_for(applicant.kind, applicant.admin_level, applicant.city)
    scope_threshold = policy.threshold_for(applicant.evaluation_scope)
    caps = policy.training_institution
    if applicant.kind is OrgKind.INDUSTRY_ORGANIZATION and applicant.admin_level is None:
        errors.append(
            FieldError(
                "admin_level",
                "county, city, province or national is required for an industry "
                "organization: its authority depends on it [L16(一)]",
            )
        )
    elif authority is None:
        errors.append(FieldError("kind", f"the policy of {policy.name} grants no authority to {applicant.kind.value}"))
    if applicant.kind is OrgKind.TRAINING_INSTITUTION and len(occupations) > caps.max_occupations:
        errors.append(
            FieldError(
                field,
                f"a training institution may hold at most {caps.max_occupations} "
                f"occupations, not {len(occupations)} [{caps.source}]",
            )
        )
    for index, item in enumerate(occupations):
        at = f"{field}.{index}"
        occupation = catalogue.get(item.occupation_code)
        if occupation is None:
            errors.append(
                FieldError(
                    f"{at}.occupation_code",
                    f"{item.occupation_code} is not in the catalogue of skill-type occupations (职业分类大典)",
                )
            )
            continue
        if occupation.kind == "access":
            errors.append(
                FieldError(
                    f"{at}.occupation_code",
                    f"{item.occupation_code} {occupation.name} is an "
                    "access-type (准入类) occupation and cannot be recognised [L12, G一(二)]",
                )
            )
            continue
        if not recognisable(occupation, policy):
            errors.append(
                FieldError(
                    f"{at}.occupation_code",
                    f"{item.occupation_code} {occupation.name} is not a skill-type occupation here: its category "
                    f"{occupation.category} is not among {', '.join(policy.occupations.skill_categories)} "
                    f"[{policy.occupations.source}]",
                )
            )
            continue
        if item.work_type and occupation.work_types and item.work_type not in occupation.work_types:
            errors.append(FieldError(f"{at}.work_type", f"{item.work_type} is not a work type of {occupation.name}"))
        for rank in item.levels:
            reason = _level_refusal(rank, occupation, ladder_ranks=ladder.ranks(), ladder_source=ladder.source)
            if reason is None and authority is not None and not authority.highest_rank <= rank <= authority.lowest_rank:
                who = applicant.kind.value + (f" ({applicant.admin_level})" if applicant.admin_level else "")
                reason = (
                    f"level {rank} is beyond the authority of a {who}: levels "
                    f"{authority.lowest_rank}-{authority.highest_rank} [{authority.source}]"
                )
            if reason is None and applicant.kind is OrgKind.TRAINING_INSTITUTION and rank < caps.highest_rank:
                reason = f"a training institution may recognise level {caps.highest_rank} and below [{caps.source}]"
            if (
                reason is None
                and scope_threshold
                and scope_threshold.highest_rank is not None
                and rank < scope_threshold.highest_rank
            ):
                reason = (
                    f"{applicant.evaluation_scope} scope covers level {scope_threshold.highest_rank} and "
                    f"below [{scope_threshold.source}]"
                )
            if reason:
                errors.append(FieldError(f"{at}.levels", reason))
        errors += _kind_specific(
            item, at, applicant, authority_main_business=bool(authority and authority.main_business_only)
        )
        if applicant.kind is OrgKind.TRAINING_INSTITUTION:
            errors += _institution_caps(item.occupation_code, at, applicant, peers, policy)
    return errors


def _level_refusal(rank: int, occupation: Occupation, *, ladder_ranks: set[int], ladder_source: str) -> str | None:
    if rank not in ladder_ranks:
        return f"level {rank} is not on this organization's ladder [{ladder_source}]"
    if 1 <= rank <= 5 and rank not in occupation.levels:
        return f"the standard of {occupation.name} defines levels {sorted(occupation.levels, reverse=True)}, not {rank}"
    return None


def _kind_specific(
    item: OccupationApplied, at: str, applicant: Applicant, *, authority_main_business: bool
) -> list[FieldError]:
    code = item.occupation_code
    if applicant.kind is OrgKind.ENTERPRISE and code not in applicant.self_evaluation_scope:
        return [
            FieldError(
                f"{at}.occupation_code", f"{code} is outside the employer's filed self-evaluation scope [L16(三)]"
            )
        ]
    if authority_main_business and code not in applicant.main_business_occupations:
        return [
            FieldError(f"{at}.occupation_code", f"{code} is not the industry organization's main business [L16(一)]")
        ]
    if applicant.kind in (
        OrgKind.TECHNICAL_SCHOOL,
        OrgKind.SENIOR_TECHNICAL_SCHOOL,
        OrgKind.HIGHER_VOCATIONAL,
        OrgKind.UNDERGRADUATE,
    ):
        majors = [m for m in applicant.majors if code in m.occupation_codes]
        if not majors:
            return [FieldError(f"{at}.occupation_code", f"{code} is not within the school's majors [L16(二)]")]
        if not any(m.enrolling for m in majors):
            return [FieldError(f"{at}.occupation_code", f"the majors for {code} stopped enrolling [L16(二)]")]
    return []


def _institution_caps(
    code: str, at: str, applicant: Applicant, peers: Sequence[PeerInstitution], policy: Policy
) -> list[FieldError]:
    caps = policy.training_institution
    in_city = [p for p in peers if p.city == applicant.city and code in p.occupation_codes]
    errors = []
    if len(in_city) >= caps.max_per_occupation_per_city:
        errors.append(
            FieldError(
                f"{at}.occupation_code",
                f"{applicant.city} already has "
                f"{len(in_city)} training institutions for {code}; at most "
                f"{caps.max_per_occupation_per_city} per city [{caps.source}]",
            )
        )
    if applicant.county and sum(p.county == applicant.county for p in in_city) >= caps.max_per_occupation_per_county:
        errors.append(
            FieldError(
                f"{at}.occupation_code",
                f"{applicant.county} already has a training institution "
                f"for {code}; at most {caps.max_per_occupation_per_county} per county "
                f"[{caps.source}]",
            )
        )
    return errors


def licence_warning(application: ApplicationCreate, *, policy: Policy) -> str | None:
    """L6(二)'s second alternative: a licence whose testing in the occupations applied for reaches normally
    (一般) the policy's figure. Short of it is a warning for the technical assessment, never a refusal; an
    application on influence and experience, or in a province whose notice states no figure, has none."""
    figure = policy.thresholds.licence_person_times
    if figure is None or application.basis is not Basis.LICENCE:
        return None
    total = sum(item.person_times for item in application.occupations)
    if total >= figure.person_times:
        return None
    return (
        f"{total} person-times tested under the licence in the occupations applied for, short of the "
        f"{figure.person_times} normally expected [{figure.source}]: the technical assessment may accept it "
        "only with its reasons"
    )


def check_override(warning: str | None, reasons: str | None, *, policy: Policy) -> list[FieldError]:
    """An application with a licence warning passes its technical assessment only with the experts' reasons."""
    figure = policy.thresholds.licence_person_times
    if warning is None or reasons or figure is None:
        return []
    return [
        FieldError(
            "override_reasons",
            f"the licence falls short of the {figure.person_times} person-times normally expected "
            f"[{figure.source}]: give the experts' reasons to accept it",
        )
    ]


def application_region(application: ApplicationCreate) -> str | None:
    """The registered address's division: as given, else the credit code's (positions 3-8) when it exists."""
    if application.region is not None:
        return application.region
    division = application.credit_code[2:8]
    return division if region_exists(division) else None


def check_jurisdiction(application: ApplicationCreate, *, policy: Policy) -> list[FieldError]:
    """Registered inside the province [L6(一); G二(一)1]: the credit code's division (positions 3-8), when it is
    a GB/T 2260 code, and the registered address's must be the province's; Guangxi sends national-scope
    applications to the national platform [G三(一)]."""
    errors = []
    division = application.credit_code[2:8]
    if region_exists(division) and province_of(division) != policy.code:
        errors.append(
            FieldError(
                "credit_code",
                f"registered in {region_name(division)} ({division}), outside {policy.name}: an organization "
                f"registered in the province applies here [L6(一)]",
            )
        )
    region = application_region(application)
    if region is None:
        errors.append(
            FieldError(
                "region",
                f"the credit code's division {division} is not a GB/T 2260 code: give the registered address's "
                "division (6 digits, as 330106)",
            )
        )
    elif application.region is not None and province_of(region) != policy.code:
        errors.append(FieldError("region", f"{region} ({region_name(region)}) is outside {policy.name} [L6(一)]"))
    platform = policy.selection.national_platform
    if platform and application.evaluation_scope is EvaluationScope.NATIONAL:
        errors.append(
            FieldError(
                "evaluation_scope",
                f"national-scope applications are made on the national platform {platform}, not here "
                f"[{policy.selection.source}]",
            )
        )
    return errors


def recognisable(occupation: Occupation, policy: Policy) -> bool:
    """Skill-type here: marked so, or in the 大典 under a category the policy counts [L12]; never access-type."""
    if occupation.kind == "access":
        return False
    return occupation.kind == "skill" or occupation.category in policy.occupations.skill_categories


def check_thresholds(application: ApplicationCreate, *, policy: Policy) -> list[FieldError]:
    """Guangxi's hard figures per evaluation scope [G二(一)5] (L6(二)'s licence figure is a warning:
    `licence_warning`)."""
    errors = []
    total = sum(item.person_times for item in application.occupations)
    scope = policy.threshold_for(application.evaluation_scope)
    if scope is not None:
        if application.years_of_evaluation < scope.min_years:
            errors.append(
                FieldError(
                    "years_of_evaluation",
                    f"{scope.scope} scope needs {scope.min_years}+ years "
                    f"of evaluation, not {application.years_of_evaluation} [{scope.source}]",
                )
            )
        if total < scope.min_total_person_times:
            errors.append(
                FieldError(
                    "occupations",
                    f"{scope.scope} scope needs {scope.min_total_person_times}+ "
                    f"person-times in all, not {total} [{scope.source}]",
                )
            )
        for index, item in enumerate(application.occupations):
            if item.person_times < scope.min_per_occupation_person_times:
                errors.append(
                    FieldError(
                        f"occupations.{index}.person_times",
                        f"{scope.scope} scope needs {scope.min_per_occupation_person_times}+ "
                        f"person-times per occupation, not {item.person_times} [{scope.source}]",
                    )
                )
    return errors


def check_materials(
    materials: Sequence[Material],
    sites: Sequence[Site],
    full_time_staff: int,
    *,
    policy: Policy,
    examiners: int | None = None,
    quality_supervisors: int | None = None,
) -> list[FieldError]:
    rules = policy.materials
    errors = []
    if examiners is not None and examiners < rules.min_examiners:
        errors.append(
            FieldError("examiners", f"at least {rules.min_examiners} examiners, not {examiners} [{rules.source}]")
        )
    if quality_supervisors is not None and quality_supervisors < rules.min_quality_supervisors:
        errors.append(
            FieldError(
                "quality_supervisors",
                f"at least {rules.min_quality_supervisors} quality supervisors, not {quality_supervisors} "
                f"[{rules.source}]",
            )
        )
    present = {m.kind for m in materials}
    for kind in REQUIRED_MATERIALS:
        if kind not in present:
            errors.append(FieldError("materials", f"{kind.value} is required [{rules.source}]"))
    if full_time_staff < rules.min_full_time_staff:
        errors.append(
            FieldError(
                "full_time_staff",
                f"at least {rules.min_full_time_staff} full-time staff, not {full_time_staff} [{rules.source}]",
            )
        )
    return errors + check_site_leases(sites, policy=policy)


def check_site_leases(sites: Sequence[Site], *, policy: Policy, field: str = "sites") -> list[FieldError]:
    """A leased site needs a lease of the policy's years, whether applied for or changed to [L7(五); S附件3]."""
    rules = policy.materials
    return [
        FieldError(
            f"{field}.{index}.lease_years",
            f"a leased site needs a lease of {rules.min_lease_years}+ years, not {site.lease_years or 0} "
            f"[{rules.source}]",
        )
        for index, site in enumerate(sites)
        if site.ownership == "leased" and (site.lease_years or 0) < rules.min_lease_years
    ]


# --- the technical assessment [L8] ----------------------------------------------------------------------

OPINION_KINDS = ("material_check", "argument", "on_site")
APPLICATION_SUBJECT = re.compile(r"application-([1-9][0-9]*)")


def application_id_of(subject: str) -> int | None:
    """The application a drawn panel serves: its subject is `application-<id>`, the key of the application's
    status changes before filing; None when the subject is not of that form."""
    match = APPLICATION_SUBJECT.fullmatch(subject)
    return int(match.group(1)) if match else None


def free_text_experts_accepted(policy: Policy, today: date) -> bool:
    """During the policy's transition (to `free_text_experts_until`, that day included) an expert typed in is
    still accepted, marked not drawn."""
    until = policy.supervision.free_text_experts_until
    return until is not None and today <= until


def panel_applicant_errors(drawn_for: set[str], *, credit_code: str) -> list[FieldError]:
    """A panel drawn avoiding another organization than the applicant avoided no one who matters [Z五(五) 回避]."""
    others = sorted(drawn_for - {credit_code})
    if not others:
        return []
    return [
        FieldError(
            "opinions",
            f"the panel was drawn avoiding {', '.join(others)}, not this applicant ({credit_code}): ask supervision "
            "to draw a panel for the applicant's own credit code",
        )
    ]


def check_assessment(
    opinions: Sequence[OpinionCreate], *, panel: Mapping[str, str], policy: Policy, today: date
) -> list[FieldError]:
    """Opinions of every kind, each by an expert of the panel supervision drew for the application (`panel`:
    expert id to name) [L8, Z五(五)]; during the transition an expert not drawn is accepted."""
    errors = []
    missing = set(OPINION_KINDS) - {opinion.kind for opinion in opinions}
    if missing:
        errors.append(
            FieldError(
                "opinions",
                f"the technical assessment needs opinions of every kind; missing: {', '.join(sorted(missing))} [L8]",
            )
        )
    if free_text_experts_accepted(policy, today):
        return errors
    if not panel:
        errors.append(FieldError("opinions", "no panel drawn for this application: ask supervision to draw one [L8]"))
        return errors
    until = policy.supervision.free_text_experts_until
    members = ", ".join(f"{expert_id} {name}" for expert_id, name in sorted(panel.items()))
    for index, opinion in enumerate(opinions):
        if opinion.expert not in panel:
            errors.append(
                FieldError(
                    f"opinions.{index}.expert",
                    f"{opinion.expert} is not on the panel supervision drew for this application ({members}): "
                    "only a drawn expert gives an opinion [L8, Z五(五)]"
                    + (f"; experts typed in were accepted until {until}" if until else ""),
                )
            )
    return errors


# --- the credit record [L6(一), G二(一)1] ----------------------------------------------------------------------

CREDIT_ARTICLE = "L6(一)"


@dataclass(frozen=True)
class CreditSubject:
    """Whom the credit record is searched for: the organization (its credit code, and the filing codes it holds
    here) and, when the application gives the ID, its legal representative."""

    credit_code: str
    filing_codes: frozenset[str] = frozenset()
    legal_representative_id_type: str | None = None
    legal_representative_id_number: str | None = None


def credit_errors(entries: Iterable[CreditRecordEntry], subject: CreditSubject, *, today: date) -> list[FieldError]:
    """An organization with a serious entry (失信, 诚信不良档案) active today, or whose legal representative has one,
    is refused: 社会信用良好,无违法违规、失信等不良行为记录 [L6(一), G二(一)1]. General and withdrawn entries, and
    entries not yet begun or ended (`starts_on <= today < ends_on`), count for nothing. The ID number is never
    written in the error."""
    errors = []
    for entry in sorted(entries, key=lambda e: (e.starts_on, e.entry_id)):
        if entry.severity != "serious" or not entry.active_on(today):
            continue
        if entry.subject_kind == "organization" and (
            entry.credit_code == subject.credit_code or (entry.filing_code or "") in subject.filing_codes
        ):
            field, whose = "credit_code", "the organization has"
        elif (
            entry.subject_kind == "person"
            and subject.legal_representative_id_number is not None
            and entry.id_number == subject.legal_representative_id_number
            and (entry.id_type or RESIDENT_ID_CARD) == subject.legal_representative_id_type
        ):
            field, whose = "legal_representative_id_number", "the legal representative has"
        else:
            continue
        active = f"active until {entry.ends_on} [{CREDIT_ARTICLE}]"
        errors.append(FieldError(field, f"{whose} a serious credit entry {entry.entry_id} {active}"))
    return errors


# --- jurisdiction: who acts on an application [L3, L5, L8, L9; Z五(一); G三(一)] ----------------------------

# The steps of the selection, and whose they are. `report_review` is the province's part of a city's selection:
# its reply, a refusal after the report, and the filing.
CITY_STEPS = frozenset({"accept", "preliminary_review", "technical_assessment", "publicity", "objection", "report"})
COUNTY_STEPS = frozenset({"accept", "preliminary_review"})
PROVINCE_STEPS = frozenset({"report_review"})
JURISDICTION_SOURCE = "L3, L5, L8, L9"


def selecting_region(application: ApplicationCreate, region: str, *, policy: Policy) -> str:
    return policy.selecting_authority(
        kind=application.kind,
        affiliation=application.affiliation,
        admin_level=application.admin_level,
        evaluation_scope=application.evaluation_scope,
        region=region,
    )


def official_refusal(*, role: str, region: str, selected_by: str, step: str, policy: Policy) -> str | None:
    """Why an official may not do `step` of an application its `selected_by` division selects; None when they
    may. The province selects its own and central bodies and does every step of theirs; a city selects the
    rest: its officials (and, where the policy lets counties pre-review, a county's of that city for acceptance
    and the preliminary review) do every step to the report, and the province reviews the report and files."""
    province = province_region(policy.code)
    where = f"{region_name(selected_by)} ({selected_by})"
    if selected_by == province or step in PROVINCE_STEPS:
        if role == "province_official":
            return None
        if selected_by == province:
            return f"the province selects this application: only province officials act on it [{JURISDICTION_SOURCE}]"
        return f"the province reviews the city's report and files the organization [{JURISDICTION_SOURCE}]"
    if role == "province_official":
        return (
            f"{where} selects this application: its {step.replace('_', ' ')} is the city's; the province reviews the "
            f"city's report and files [{JURISDICTION_SOURCE}]"
        )
    if role == "city_official":
        if region == selected_by:
            return None
        return f"{region_name(region)} ({region}) may not act on an application {where} selects [{JURISDICTION_SOURCE}]"
    if role == "county_official":
        counties = policy.selection.counties_pre_review
        if counties and step in COUNTY_STEPS and within(region, selected_by):
            return None
        if not within(region, selected_by):
            return f"{region_name(region)} ({region}) is not in {where}, which selects this application [Z五(一)]"
        if not counties:
            return f"in {policy.name} the city accepts and pre-reviews; counties do not [{policy.selection.source}]"
        return f"a county accepts and pre-reviews for its city; the {step.replace('_', ' ')} is the city's [Z五(一)]"
    return f"a {role} does not act on applications [{JURISDICTION_SOURCE}]"


def may_see(*, role: str, region: str, selected_by: str, applicant_region: str) -> bool:
    """Province officials see every application; a city's officials those their city selects, a county's those
    of applicants registered in the county that its city selects."""
    if role == "city_official":
        return selected_by == region
    if role == "county_official":
        return selected_by == city_of(region) and within(applicant_region, region)
    return True
