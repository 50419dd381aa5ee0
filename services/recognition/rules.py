"""Recognition's rules, pure: they read what they are given and return every error at once.

The scope of the organization's filing [G四(二)], the announcement period [G三(五)], the declared staff and
their integrity (不相容岗位分离, 回避) [L20, G四(二), Z五(五)], who may sit a level, and pass or fail.

Who may sit a level: the national occupational standards' application conditions (申报条件).

The standards share one template (国家职业技能标准编制技术规程, 2018): a level below 5 is reached from the
next lower level's certificate plus years in the occupation, or (levels 4 and 3) from years alone. An
occupation's own standard may differ; these are the template's figures. Competition winners and
technical-school students are recognised directly [L18(四), S一] and are judged on their own facts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from shared.kernel.errors import FieldError
from shared.kernel.events import ScopeItem
from shared.kernel.filing import FilingState
from shared.kernel.identity import RESIDENT_ID_CARD
from shared.kernel.policy import Policy
from shared.kernel.regions import province_of, region_name
from shared.kernel.workdays import add_working_days, add_years

from .models import (
    DIRECT_METHODS,
    HALTED_STANDINGS,
    WITHDRAWN,
    Batch,
    BatchStaff,
    BatchStatus,
    Candidate,
    Method,
    PersonCreditEntry,
    ScoreCreate,
    StaffCreate,
    StaffRole,
)

SOURCE = "国家职业技能标准编制技术规程(2018年版) 申报条件"


@dataclass(frozen=True)
class Condition:
    years_with_prior: int | None  # years in the occupation after the next lower level's certificate
    years_without_prior: int | None  # years in the occupation with no certificate; None: a certificate is required


CONDITIONS: dict[int, Condition] = {
    5: Condition(years_with_prior=None, years_without_prior=1),
    4: Condition(years_with_prior=4, years_without_prior=6),
    3: Condition(years_with_prior=5, years_without_prior=10),
    2: Condition(years_with_prior=4, years_without_prior=None),
    1: Condition(years_with_prior=4, years_without_prior=None),
}


@dataclass(frozen=True)
class PriorCertificate:
    """What the shared query service says of a certificate a candidate claims, checked against its holder."""

    number: str
    found: bool
    held_by_candidate: bool = False
    level: int | None = None
    occupation_code: str | None = None
    status: str | None = None


def refusal(*, level: int, occupation_code: str, years_of_work: int, prior: PriorCertificate | None) -> str | None:
    """Why a candidate may not sit `level`, or None."""
    condition = CONDITIONS[level]
    if prior is not None:
        if not prior.found:
            return f"certificate {prior.number} is not on record in any province"
        if not prior.held_by_candidate:
            return f"certificate {prior.number} is not held by this candidate (name and ID number)"
        if prior.status != "valid":
            return f"certificate {prior.number} is {prior.status}"
        if prior.level != level + 1 or prior.occupation_code != occupation_code:
            return (
                f"certificate {prior.number} is level {prior.level} of {prior.occupation_code}; level {level} "
                f"needs level {level + 1} of {occupation_code} [{SOURCE}]"
            )
        if condition.years_with_prior is not None and years_of_work < condition.years_with_prior:
            return (
                f"level {level} needs {condition.years_with_prior}+ years in the occupation after the level "
                f"{level + 1} certificate, not {years_of_work} [{SOURCE}]"
            )
        return None
    if condition.years_without_prior is None:
        return f"level {level} needs a level {level + 1} certificate of {occupation_code} [{SOURCE}]"
    if years_of_work < condition.years_without_prior:
        return (
            f"level {level} needs {condition.years_without_prior}+ years in the occupation (or a level "
            f"{level + 1} certificate), not {years_of_work} [{SOURCE}]"
            if level < 5
            else f"level 5 needs {condition.years_without_prior}+ year in the occupation, not {years_of_work} "
            f"[{SOURCE}]"
        )
    return None


def scope_errors(
    filing: FilingState,
    *,
    evaluation_scope: str,
    city_filed: str | None,
    occupation_code: str,
    level: int,
    city: str,
    on: date,
) -> list[FieldError]:
    """Filed, in good standing, occupation and level and region within its scope [G四(二)]."""
    errors = []
    out_of_scope = filing.scope_error(occupation_code=occupation_code, level=level, on=on)
    if out_of_scope is not None:
        errors.append(out_of_scope)
    if evaluation_scope == "city" and city_filed and city != city_filed:
        errors.append(
            FieldError(
                "site.city", f"{filing.filing_code} is filed to recognise in {city_filed} only, not in {city} [G四(二)]"
            )
        )
    return errors


def scope_row(
    items: Sequence[ScopeItem], *, filing_code: str, occupation_code: str, level: int, work_type: str | None
) -> tuple[ScopeItem | None, FieldError | None]:
    """The filed scope row (occupation + work type, one work type one row) the batch runs under, whose name and
    work type it takes [L26, G四(二), L附件8]; or why the work type is not filed. (None, None) when no row has the
    occupation and level: the filing's scope error says so."""
    rows = [item for item in items if item.occupation_code == occupation_code and level in item.levels]
    if not rows:
        return None, None
    filed = sorted({item.work_type for item in rows if item.work_type})
    wanted = work_type.strip() if work_type else None
    if not wanted:
        plain = [item for item in rows if not item.work_type]
        if plain or len(rows) == 1:
            return (plain or rows)[0], None
        return None, FieldError(
            "work_type",
            f"{filing_code} is filed for {occupation_code} {rows[0].occupation_name} level {level} in the work types "
            f"{', '.join(filed)}: name the one this batch recognises [L26, G四(二)]",
        )
    for item in rows:
        if (item.work_type or "").strip() == wanted:
            return item, None
    return None, FieldError(
        "work_type",
        f"work type {wanted} is not filed by {filing_code} for {occupation_code} {rows[0].occupation_name} level "
        f"{level} (filed: {', '.join(filed) or 'the occupation without a work type'}) [L26, G四(二)]",
    )


def site_region_errors(
    region: str | None, *, province: str, new_site: bool, field: str = "site.region"
) -> list[FieldError]:
    """A site names its GB/T 2260 division inside the province; a new exam site must, since it is notified to that
    division's department [Z四(一), G四(二)]."""
    if region is None:
        if new_site:
            return [
                FieldError(
                    field,
                    "a new exam site (not one of the filed sites) names its GB/T 2260 county or city: the batch is "
                    "notified to that division's department [Z四(一), G四(二)]",
                )
            ]
        return []
    if province_of(region) != province:
        return [
            FieldError(
                field,
                f"{region} ({region_name(region) or 'unknown'}) is not in province {province}: an organization "
                "recognises inside its province only [G一(二), G四(二)]",
            )
        ]
    return []


def filing_lapse_error(batch_ends_on: date, valid_until: date, filing_code: str) -> FieldError | None:
    """The filing is valid for the whole exam [L28, G四(二)]: it may not lapse before the batch's last day."""
    if valid_until >= batch_ends_on:
        return None
    return FieldError(
        "exam_ends_on",
        f"the filing of {filing_code} lapses on {valid_until}, before the exam ends {batch_ends_on}: it must be "
        "valid for the whole exam [L28, G四(二)]",
    )


def staff_declared_errors(staff: Sequence[StaffCreate], policy: Policy | None = None) -> list[FieldError]:
    """The plan names examiners, invigilators and internal quality supervisors [L20], at least the policy's
    numbers of examiners and quality supervisors (`materials.min_examiners`, `min_quality_supervisors`); one role
    per person."""
    errors = []
    roles = Counter(person.role for person in staff)
    minimum = {StaffRole.EXAMINER: 1, StaffRole.INVIGILATOR: 1, StaffRole.QUALITY_SUPERVISOR: 1}
    if policy is not None:
        minimum[StaffRole.EXAMINER] = max(1, policy.materials.min_examiners)
        minimum[StaffRole.QUALITY_SUPERVISOR] = max(1, policy.materials.min_quality_supervisors)
    for role in StaffRole:
        if not roles[role]:
            errors.append(FieldError("staff", f"the plan names no {role.value} [L20]"))
        elif roles[role] < minimum[role]:
            assert policy is not None
            errors.append(
                FieldError(
                    "staff",
                    f"the plan names {roles[role]} {role.value}(s); {policy.name} requires at least {minimum[role]} "
                    f"per batch [L20; {policy.materials.source}]",
                )
            )
    seen: dict[tuple[str, str], int] = {}
    for index, person in enumerate(staff):
        key = (person.id_type, person.id_number)
        if key in seen:
            errors.append(
                FieldError(
                    f"staff.{index}",
                    f"{person.name} already serves in this batch as "
                    f"{staff[seen[key]].role.value}: one role per person "
                    "(不相容岗位分离) [G四(二)]",
                )
            )
        seen[key] = index
    return errors


def birth_date_of(id_type: str, id_number: str, birth_date: date | None) -> date | None:
    """The birth date a resident identity card number carries (positions 7-14), else the one declared."""
    if id_type == RESIDENT_ID_CARD and len(id_number) == 18 and id_number[6:14].isdigit():
        try:
            return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
        except ValueError:
            return birth_date
    return birth_date


WORKING_AGE = 16  # 劳动法 第十五条: no employment under 16


def years_of_work_error(
    *, name: str, id_type: str, id_number: str, birth_date: date | None, years_of_work: int, today: date
) -> str | None:
    """Why the declared years in the occupation are impossible, or None: no more than the years since the
    candidate turned 16 (born as the ID number or the declared birth date says)."""
    born = birth_date_of(id_type, id_number, birth_date)
    if born is None or not years_of_work:
        return None
    since = add_years(born, WORKING_AGE)
    possible = 0 if since > today else today.year - since.year - ((today.month, today.day) < (since.month, since.day))
    if years_of_work <= possible:
        return None
    return (
        f"{name} declares {years_of_work} years of work but turned {WORKING_AGE} on {since}: at most {possible} "
        "[申报条件; 劳动法 第十五条]"
    )


def staff_candidate_error(name: str, staff_roles: Mapping[tuple[str, str], str], key: tuple[str, str]) -> str | None:
    """A batch's examiner, invigilator or quality supervisor is not one of its candidates (same ID) [G四(二)]."""
    role = staff_roles.get(key)
    if role is None:
        return None
    return f"{name} serves this batch as {role}: staff may not sit it (不相容岗位分离) [G四(二), Z五(五)]"


CREDIT_ARTICLE = "Z五(五) 诚信不良档案"


def credit_errors(
    id_numbers: Sequence[str], entries: Mapping[str, Iterable[PersonCreditEntry]], today: date
) -> list[FieldError]:
    """No examiner, invigilator or internal quality supervisor with a serious credit entry active on the day
    [Z五(五)]: one error per such entry, by staff position. The ID number is never echoed.

    `id_numbers`: the staff's, in plan order; `entries`: the credit record's entries of persons by ID number."""
    errors = []
    for index, id_number in enumerate(id_numbers):
        found = sorted(entries.get(id_number, ()), key=lambda e: (e.ends_on, e.entry_id))
        for entry in found:
            if entry.severity == "serious" and entry.active_on(today):
                errors.append(
                    FieldError(
                        f"staff.{index}.id_number",
                        f"serious credit entry {entry.entry_id} active until {entry.ends_on} [{CREDIT_ARTICLE}]",
                    )
                )
    return errors


def halted_reason(batch: Batch, organization_status: str | None, valid_until: date | None = None) -> str | None:
    """Why a batch takes no further step, or None: its organization is suspended or revoked, or its filing lapses
    before the exam ends, and the batch is not approved (an approved batch's corrections and certificates go on)
    nor withdrawn [L28]."""
    if batch.status is BatchStatus.APPROVED or batch.status in WITHDRAWN:
        return None
    if organization_status not in HALTED_STANDINGS:
        if valid_until is not None and valid_until < batch.exam_ends_on:
            return (
                f"the filing of {batch.organization_code} lapses on {valid_until}, before batch {batch.id} ends "
                f"{batch.exam_ends_on}: it takes no further step unless the filing is renewed; the testing "
                "department cancels it or hands it over to another organization [L28, G四(二)]"
            )
        return None
    return (
        f"organization {batch.organization_code} is {organization_status}: batch {batch.id} "
        f"({batch.status.value}) takes no further step; the testing department cancels it or hands it over "
        "to another organization [L28]"
    )


def withdrawal_refusal(batch: Batch, organization_status: str | None, valid_until: date | None = None) -> str | None:
    """Why a batch may not be cancelled or handed over, or None: only a batch of a suspended or revoked
    organization, or one whose filing lapses before the exam ends, is [L28] (its own status is the transition
    table's)."""
    if organization_status in HALTED_STANDINGS:
        return None
    if organization_status is not None and valid_until is not None and valid_until < batch.exam_ends_on:
        return None
    return (
        f"organization {batch.organization_code} is {organization_status or 'not known here'}: only a batch of a "
        "suspended or revoked organization, or of a filing lapsing before the exam ends, is cancelled or handed "
        "over [L28]"
    )


def announcement_errors(batch: Batch, policy: Policy, today: date) -> list[FieldError]:
    """Announced the policy's working days ahead [G三(五)]; dates not in the past."""
    errors = []
    if batch.exam_starts_on < today:
        errors.append(
            FieldError("exam_starts_on", f"{batch.exam_starts_on} has passed: a plan is approved before it runs [L20]")
        )
    lead = policy.periods.batch_announcement_working_days
    if lead:
        if batch.announced_on is None:
            errors.append(
                FieldError(
                    "announced_on",
                    f"{policy.name} requires the batch to be announced {lead} "
                    f"working days ahead [{policy.periods.source}]",
                )
            )
        elif batch.announced_on > today:
            errors.append(FieldError("announced_on", "the announcement date cannot be in the future"))
        elif add_working_days(batch.announced_on, lead) > batch.exam_starts_on:
            errors.append(
                FieldError(
                    "announced_on",
                    f"announced {batch.announced_on}, the batch may start "
                    f"{add_working_days(batch.announced_on, lead)} at the earliest: {lead} working "
                    f"days [{policy.periods.source}]",
                )
            )
    return errors


def publicity_errors(
    published_on: date, *, today: date, exam_ends_on: date, results_recorded_on: date | None
) -> list[FieldError]:
    """A results publicity starts neither before the step it publishes (the exam's end, the results, or the
    corrected results, as recorded) nor in the past [L22, G三(五)]."""
    errors = []
    if published_on < today:
        errors.append(
            FieldError("published_on", f"{published_on} has passed: a publicity is dated from today ({today}) on")
        )
    if published_on < exam_ends_on:
        errors.append(FieldError("published_on", f"results cannot be published before the batch ends {exam_ends_on}"))
    if results_recorded_on is not None and published_on < results_recorded_on:
        errors.append(
            FieldError(
                "published_on",
                f"the results it publishes were recorded on {results_recorded_on}: not published before [L22]",
            )
        )
    return errors


def integrity_errors(
    batch: Batch,
    staff: Sequence[BatchStaff],
    names_by_id_number: Mapping[str, str],
    elsewhere: Mapping[int, Iterable[Batch]],
) -> list[FieldError]:
    """Trainers do not examine their trainees; relatives step aside; nobody serves two sites at once.

    `names_by_id_number`: the batch's candidates; `elsewhere`: by staff position, the other active batches
    each person serves that overlap this one in time."""
    errors = []
    for index, person in enumerate(staff):
        conflicts = [("trained", person.trained)] if person.role is StaffRole.EXAMINER else []
        conflicts.append(("related", person.related))
        for kind, id_numbers in conflicts:
            names = [names_by_id_number[n] for n in id_numbers or () if n in names_by_id_number]
            if names:
                why = "trained" if kind == "trained" else "is related to"
                rule = "不相容岗位分离" if kind == "trained" else "回避"
                errors.append(
                    FieldError(
                        f"staff.{index}",
                        f"{person.name} {why} {', '.join(names[:5])} and may "
                        f"not serve as {person.role.value} for them ({rule}) [G四(二), Z五(五)]",
                    )
                )
        for other in elsewhere.get(index, ()):
            if other.site.get("address") != batch.site.get("address"):
                errors.append(
                    FieldError(
                        f"staff.{index}",
                        f"{person.name} serves batch {other.id} at "
                        f"{other.site.get('address')} from {other.exam_starts_on} to "
                        f"{other.exam_ends_on}: not two sites at once [G四(二)]",
                    )
                )
    return errors


def eligibility_errors(
    batch: Batch, candidates: Iterable[Candidate], prior: Mapping[str, PriorCertificate]
) -> list[FieldError]:
    """Every candidate, in order: the method's own condition, or the level's application conditions."""
    errors = []
    for candidate in candidates:
        at = f"candidates.{candidate.position}"
        if batch.method is Method.COMPETITION:
            if not candidate.competition_award:
                errors.append(
                    FieldError(
                        f"{at}.competition_award",
                        f"{candidate.name}: a competition batch "
                        "recognises award winners of a filed competition only [L18(四)]",
                    )
                )
            continue
        if batch.method is Method.STUDENT:
            if not candidate.completed_teaching_plan:
                errors.append(
                    FieldError(
                        f"{at}.completed_teaching_plan",
                        f"{candidate.name} has not completed the teaching plan of level {batch.level} [S一]",
                    )
                )
            continue
        reason = refusal(
            level=batch.level,
            occupation_code=batch.occupation_code,
            years_of_work=candidate.years_of_work,
            prior=prior.get(candidate.id),
        )
        if reason:
            field = "prior_certificate_number" if candidate.prior_certificate_number else "years_of_work"
            errors.append(FieldError(f"{at}.{field}", f"{candidate.name}: {reason}"))
    return errors


def judge(score: ScoreCreate, *, method: Method, level: int, policy: Policy) -> tuple[bool, list[tuple[str, str]]]:
    """Pass or fail by the method's components, each at the policy's pass mark; or what is missing."""
    if score.absent:
        return False, []
    if method in DIRECT_METHODS:
        return True, []  # recognised directly on the facts checked at submission [L18(四), S一]
    results = policy.results
    needed = {
        Method.ASSESSMENT: ["theory", "skill"],
        Method.COMBINED: ["theory", "skill", "performance"],
        Method.PERFORMANCE_REVIEW: ["performance"],
    }[method]
    if method is Method.ASSESSMENT and level <= results.defence_from_rank:
        needed.append("defence")
    missing = [
        (name, f"{method.value} at level {level} needs a {name} score [{results.source}]")
        for name in needed
        if getattr(score, name) is None
    ]
    if missing:
        return False, missing
    return all(getattr(score, name) >= results.pass_mark for name in needed), []


def free_text_experts_accepted(free_text_until: date | None, today: date) -> bool:
    """The policy's transition: until its last day, experts typed in rather than drawn are still accepted."""
    return free_text_until is not None and today <= free_text_until


def reviewer_errors(
    reviewers: Sequence[str],
    *,
    performance_scored: bool,
    panel: Mapping[str, str],
    free_text_until: date | None,
    today: date,
) -> list[FieldError]:
    """Performance-review scores name the experts who gave them, and recognition accepts only drawn experts: each
    must be on the performance-review panel supervision dispatched for the batch [L18(三), Z五(五)]. During the
    policy's transition (`free_text_until`) others are accepted, to be recorded as typed in.

    `panel`: the dispatched panel's expert ids and names."""
    errors = []
    if performance_scored and not reviewers:
        errors.append(
            FieldError(
                "reviewers",
                "performance-review scores need the experts who reviewed: ids of the panel supervision drew "
                "for this batch [L18(三)]",
            )
        )
    transition = free_text_experts_accepted(free_text_until, today)
    seen: set[str] = set()
    for index, expert_id in enumerate(reviewers):
        if expert_id in seen:
            errors.append(FieldError(f"reviewers.{index}", f"{expert_id} is listed twice"))
            continue
        seen.add(expert_id)
        if expert_id in panel or transition:
            continue
        if not panel:
            reason = (
                f"{expert_id} was not drawn: supervision has dispatched no performance-review panel for this batch; "
                "recognition accepts only drawn experts [L18(三), Z五(五)]"
            )
        else:
            reason = (
                f"{expert_id} is not on the performance-review panel drawn for this batch "
                f"({', '.join(sorted(panel))}): recognition accepts only drawn experts [L18(三), Z五(五)]"
            )
        errors.append(FieldError(f"reviewers.{index}", reason))
    return errors
