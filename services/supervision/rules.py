"""Supervision's rules as pure functions: each returns every problem at once (or every alert), never raises.

The draw itself is in draw.py (pure too, and runnable offline); the thresholds are the province's policy.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.kernel.errors import FieldError
from shared.kernel.events import BatchResultsPublished, RatedIndicator
from shared.kernel.policy import Cases, Monitoring, Rating, StarBand, Supervision
from shared.kernel.privacy import mask_id_number
from shared.kernel.regions import (
    REGION_PATTERN,
    RegionLevel,
    city_of,
    province_of,
    region_exists,
    region_level,
    region_name,
    within,
)

from .models import AlertRule, PlanCreate, PlannedBatch

PANEL_PURPOSES = ("technical_assessment", "performance_review", "quality_supervision")


def plan_errors(plan: PlanCreate, *, today: date, province: str) -> list[FieldError]:
    """A plan an official may publish: a real period, a value nobody can know yet, a panel with its subject, and
    divisions of the province to draw in."""
    errors = [
        FieldError(
            f"population.cities.{i}",
            f"{area} is not a GB/T 2260 city or county of province {province} (a city may also be named, as 杭州市)",
        )
        for i, area in enumerate(plan.population.cities)
        if is_region_code(area)
        and (not region_exists(area) or province_of(area) != province or region_level(area) is RegionLevel.PROVINCE)
    ]
    if plan.period_to < plan.period_from:
        errors.append(FieldError("period_to", f"ends {plan.period_to}, before the period starts {plan.period_from}"))
    if plan.period_from < today:
        errors.append(
            FieldError(
                "period_from",
                f"{plan.period_from} is past (today is {today}): a plan draws from what is still to come",
            )
        )
    if plan.entropy_expected_on <= today:
        errors.append(
            FieldError(
                "entropy_expected_on",
                f"the public value must come after the plan is published ({today}): a value known today could "
                "be chosen to steer the draw [L27 双随机]",
            )
        )
    if plan.purpose == "technical_assessment":
        if plan.application is None:
            errors.append(
                FieldError("application", "a technical-assessment panel names the application it serves [L8]")
            )
    elif plan.purpose in PANEL_PURPOSES:
        if not plan.population.subject:
            errors.append(FieldError("population.subject", f"a {plan.purpose} panel names the batch it serves"))
        if plan.population.target_kind != "batch":
            errors.append(FieldError("population.target_kind", f"a {plan.purpose} panel serves a batch"))
    if plan.purpose == "inspection" and plan.population.target_kind == "application":
        errors.append(FieldError("population.target_kind", "inspections draw batches or organizations"))
    return errors


def draw_errors(*, entropy_expected_on: date, entropy_source: str, today: date) -> list[FieldError]:
    if today < entropy_expected_on:
        return [
            FieldError(
                "public_value",
                f"{entropy_source} is expected on {entropy_expected_on}; today is {today}: a value entered before "
                "then cannot be the announced one",
            )
        ]
    return []


def item_errors(codes: list[str], supervision: Supervision, field: str) -> list[FieldError]:
    return [
        FieldError(f"{field}.{index}", f"{code!r} is not on the province's item list (抽查事项清单)")
        for index, code in enumerate(codes)
        if supervision.item(code) is None
    ]


# --- online monitoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anomaly:
    rule: AlertRule
    key: str
    detail: str
    article: str


MONITORING_ARTICLE = "L27 在线督导; Z四(五) 在线监测、智能研判"
# What the public is shown when an alert becomes a finding (the alert's own text may name staff).
ALERT_TITLES = {
    AlertRule.PASS_RATE: "在线监测：通过率显著高于全省同职业同等级水平",
    AlertRule.IDENTICAL_SCORES: "在线监测：多名考生成绩完全相同",
    AlertRule.SCORES_PILED_AT_PASS: "在线监测：成绩集中于合格线上方",
    AlertRule.DOUBLE_BOOKING: "在线监测：考务人员同日在不同机构考点任职",
    AlertRule.OVER_CAPACITY: "在线监测：考生人数超过考场容量",
}


def norm_of(history: list[tuple[int, int]], monitoring: Monitoring) -> tuple[float, str]:
    """The provincial pass-rate norm of an occupation and level from (sat, passed) of its other batches."""
    sat = sum(s for s, _ in history)
    if len(history) < monitoring.norm_min_batches or sat == 0:
        return monitoring.default_norm, f"the policy's default norm (fewer than {monitoring.norm_min_batches} batches)"
    return sum(p for _, p in history) / sat, f"the norm of {len(history)} batches ({sat} candidates)"


def result_anomalies(
    results: BatchResultsPublished, history: list[tuple[int, int]], monitoring: Monitoring
) -> list[Anomaly]:
    """Pass rate far above the norm, identical score vectors, scores piled just above the pass mark."""
    anomalies = []
    if results.sat >= monitoring.pass_rate_min_sat:
        norm, basis = norm_of(history, monitoring)
        rate = results.passed / results.sat
        if rate - norm > monitoring.pass_rate_excess:
            anomalies.append(
                Anomaly(
                    AlertRule.PASS_RATE,
                    "",
                    f"pass rate {rate:.0%} of {results.sat} against {norm:.0%}, {basis}, for "
                    f"{results.occupation_code} level {results.level}: more than "
                    f"{monitoring.pass_rate_excess:.0%} above",
                    MONITORING_ARTICLE,
                )
            )
    # One component alone (a theory score of 75) is shared by chance; whole vectors of two or more are not.
    vectors = [r for r in results.repeated_scores if len(r.scores) >= 2]
    largest = max(vectors, key=lambda r: r.candidates, default=None)
    needed = max(monitoring.identical_scores_min, math.ceil(monitoring.identical_scores_share * results.sat))
    if largest is not None and largest.candidates >= needed:
        vector = ", ".join(f"{name} {score:g}" for name, score in sorted(largest.scores.items()))
        anomalies.append(
            Anomaly(
                AlertRule.IDENTICAL_SCORES,
                "",
                f"{largest.candidates} candidates share the score vector ({vector})",
                MONITORING_ARTICLE,
            )
        )
    if results.sat >= monitoring.pile_min_sat:
        band = monitoring.pile_band_points
        for distribution in results.components:
            counts = distribution.counts
            above = sum(counts[k] for k in range(101) if results.pass_mark <= k < results.pass_mark + band)
            below = sum(counts[k] for k in range(101) if results.pass_mark - band <= k < results.pass_mark)
            if above >= monitoring.pile_ratio * max(below, 1):
                anomalies.append(
                    Anomaly(
                        AlertRule.SCORES_PILED_AT_PASS,
                        distribution.component,
                        f"{distribution.component}: {above} candidates within {band:g} points above the pass mark "
                        f"{results.pass_mark:g}, {below} within {band:g} below",
                        MONITORING_ARTICLE,
                    )
                )
    return anomalies


def capacity_anomaly(*, candidates: int, capacity: int | None) -> Anomaly | None:
    if capacity is None or candidates <= capacity:
        return None
    return Anomaly(
        AlertRule.OVER_CAPACITY,
        "",
        f"{candidates} candidates for a site that seats {capacity}",
        "L20 实施计划; L4(三) 场地设备",
    )


def double_bookings(batch: PlannedBatch, others: list[PlannedBatch]) -> list[Anomaly]:
    """Staff of `batch` also scheduled, on an overlapping day, at a batch of another organization [G四(二)]."""
    people = {(s["id_type"], s["id_number"]): s for s in batch.staff}
    anomalies = []
    for other in others:
        if other.batch_id == batch.batch_id or other.organization_code == batch.organization_code:
            continue
        if other.exam_ends_on < batch.exam_starts_on or other.exam_starts_on > batch.exam_ends_on:
            continue
        for person in other.staff:
            mine = people.get((person["id_type"], person["id_number"]))
            if mine is None:
                continue
            masked = mask_id_number(person["id_number"])
            person_key = hashlib.sha256(f"{person['id_type']}:{person['id_number']}".encode()).hexdigest()[:16]
            anomalies.append(
                Anomaly(
                    AlertRule.DOUBLE_BOOKING,
                    f"{other.batch_id}:{person_key}",
                    f"{mine['name']} ({masked}), {mine['role']} here, is also {person['role']} of batch "
                    f"{other.batch_id} of {other.organization_name} at {other.site_city}, "
                    f"{other.exam_starts_on} to {other.exam_ends_on}",
                    "L20 考评人员安排; G四(二) 不相容岗位分离",
                )
            )
    return anomalies


# --- the population's divisions [L5, G四(二), Z四(一)] ------------------------------------------------------------


def is_region_code(area: str) -> bool:
    return re.fullmatch(REGION_PATTERN, area) is not None


def in_areas(
    areas: list[str], *, regions: Iterable[str | None], city: str | None = None, county: str | None = None
) -> bool:
    """Whether a place lies in one of a plan's `areas`: each a GB/T 2260 city or county code (330100, 330106), or a
    city's name (杭州市). The place is given by its divisions' codes and, for what was kept without one, by its city
    and county names: a code then matches the names GB/T 2260 gives it."""
    codes = [region for region in regions if region]
    for area in areas:
        if not is_region_code(area):
            if city is not None and area == city:
                return True
        elif codes:
            if any(within(code, area) for code in codes):
                return True
        elif region_level(area) is RegionLevel.CITY:
            if city is not None and city == region_name(area):
                return True
        elif county is not None and county == region_name(area) and city == region_name(city_of(area)):
            return True
    return False


def effective_order(*, effective_on: date, occurred_at: datetime, change_id: int) -> str:
    """Where an approved change of details stands among an organization's changes, as a string that sorts so: the
    registry's date of the change, then when it was sent (two on one day), then its id. Not its id first: changes
    are approved in any order of their requests."""
    sent = occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{effective_on.isoformat()} {sent} {change_id:012d}"


def batch_in_areas(
    areas: list[str],
    batch: PlannedBatch,
    *,
    home_regions: Iterable[str | None],
    home_city: str | None,
) -> bool:
    """A batch is in the population of the division its site lies in (its GB/T 2260 code, else its city and county
    as named) and of the organization's own: the division that selected it and that of its registered address,
    else its city as named. So a batch at a new exam site is under both [G四(二); Z四(一)]."""
    site = in_areas(areas, regions=[batch.site_region], city=batch.site_city, county=batch.site_county)
    return site or in_areas(areas, regions=home_regions, city=home_city)


# --- cases and measures [L28, G四(一), Z五(五)] ----------------------------------------------------------

# Which measure the official may decide in which state of a case.
MEASURES_FROM: dict[str, tuple[str, ...]] = {
    "rectification": ("open", "overdue"),
    "suspension": ("open", "rectifying", "overdue"),
    "revocation": ("open", "rectifying", "report_filed", "overdue"),
    "removal": ("open", "rectifying", "report_filed", "overdue"),
    "no_measure": ("open",),
}


def measure_errors(
    *, status: str, suspended: bool, measure: str, working_days: int | None, cases: Cases
) -> list[FieldError]:
    """A measure the case's state allows, with a deadline within the policy."""
    errors = []
    allowed = MEASURES_FROM[measure]
    if status not in allowed:
        errors.append(FieldError("measure", f"{measure} is decided on a case that is {' or '.join(allowed)}"))
    if measure == "suspension" and suspended:
        errors.append(FieldError("measure", "the organization is already suspended on this case"))
    if working_days is not None:
        if measure not in ("rectification", "suspension"):
            errors.append(FieldError("working_days", f"{measure} has no rectification deadline"))
        elif working_days > cases.max_rectification_working_days:
            errors.append(
                FieldError(
                    "working_days",
                    f"at most {cases.max_rectification_working_days} working days [{cases.source}]",
                )
            )
    return errors


def proposed_measure(*, suspended: bool) -> str:
    """What an overdue rectification leads to: suspension first, then revocation [L28 视情节]."""
    return "revocation" if suspended else "suspension"


# --- star rating (星级评定) [Z五(五)] -----------------------------------------------------------------------


@dataclass(frozen=True)
class Rated:
    score: int
    band: StarBand
    indicators: list[RatedIndicator]


def rate(occurrences: dict[str, list[str]], rating: Rating) -> Rated:
    """skillcert-rating-1: score = max(0, 100 - sum(points x occurrences)); the stars of the highest band the score
    reaches. `occurrences` maps an indicator's code to the references of what happened in the year."""
    indicators = [
        RatedIndicator(
            code=indicator.code,
            title=indicator.title,
            count=len(occurrences.get(indicator.code, [])),
            points=indicator.points,
            references=sorted(occurrences.get(indicator.code, [])),
        )
        for indicator in rating.indicators
    ]
    score = max(0, 100 - sum(i.count * i.points for i in indicators))
    return Rated(score=score, band=rating.band(score), indicators=indicators)


# --- complaints (投诉举报) [G四(一)] -----------------------------------------------------------------------


def complaint_late(
    *, today: date, acknowledge_by: date, handle_by: date, acknowledged_on: date | None, closed_on: date | None
) -> bool:
    """Acknowledged or closed after its deadline, or not yet and the deadline has passed."""
    ended = closed_on or today
    return (acknowledged_on or ended) > acknowledge_by or ended > handle_by
