"""The draw (services/supervision/draw.py) as pure functions: what the offline verifier recomputes."""

from __future__ import annotations

from datetime import date, timedelta

from services.supervision import draw
from shared.kernel.events import (
    DrawInspector,
    DrawMade,
    DrawRefusal,
    DrawTarget,
    InspectionPlanPublished,
    PastInspection,
    PlanTerms,
    PopulationFilter,
    TiedOrganization,
)

PUBLISHED = date(2026, 6, 1)


def plan(targets: list[DrawTarget], inspectors: list[DrawInspector], **terms: object) -> InspectionPlanPublished:
    values: dict[str, object] = {
        "plan_id": "33-P000001",
        "province": "33",
        "title": "抽查",
        "purpose": "inspection",
        "period_from": PUBLISHED,
        "period_to": PUBLISHED + timedelta(days=29),
        "population": PopulationFilter(),
        "sample_size": len(targets),
        "inspectors_per_target": 1,
        "max_targets_per_inspector": 1,
        "inspector_kinds": ["expert"],
        "include_partner_experts": False,
        "rotation_window_days": 365,
        "entropy_source": "双色球",
        "entropy_numbers": 1,
        "entropy_expected_on": PUBLISHED + timedelta(days=1),
        "published_on": PUBLISHED,
        "published_by": "official",
        **terms,
    }
    plan_terms = PlanTerms.model_validate(values)
    return InspectionPlanPublished(
        terms=plan_terms,
        targets=targets,
        inspectors=inspectors,
        plan_hash=draw.plan_hash(plan_terms),
        snapshot_hash=draw.snapshot_hash(targets, inspectors),
    )


def organization(index: int) -> DrawTarget:
    return DrawTarget(
        target_id=f"B{index}",
        kind="organization",
        organization_code=f"S0000330000{index:02d}",
        organization_name="机构",
    )


def inspector(index: int, **changes: object) -> DrawInspector:
    return DrawInspector.model_validate(
        {
            "expert_id": f"33-E{index:06d}",
            "province": "33",
            "kinds": ["expert"],
            "employer_credit_code": f"91330100MA{index:08d}",
            "qualifications": [],
            **changes,
        }
    )


def made(document: InspectionPlanPublished, value: str, refusals: list[DrawRefusal] | None = None) -> DrawMade:
    drawn = draw.draw(document, value, refusals or [])
    return DrawMade(
        plan_id=document.terms.plan_id,
        province="33",
        algorithm=draw.ALGORITHM,
        plan_hash=document.plan_hash,
        snapshot_hash=document.snapshot_hash,
        public_value=value,
        seed=drawn.seed,
        drawn_on=document.terms.entropy_expected_on,
        drawn_by="official",
        targets=drawn.targets,
        exclusions=drawn.exclusions,
        refusals=drawn.refusals,
    )


def refusal(target: str, expert: str) -> DrawRefusal:
    return DrawRefusal(
        target_id=target,
        expert_id=expert,
        ground="declined",
        reason="不能到场",
        refused_on=PUBLISHED + timedelta(days=2),
        recorded_by=expert,
    )


def test_no_drawn_inspector_is_also_listed_as_excluded_after_any_refusals() -> None:
    """A replacement may be someone passed over at the per-plan maximum before a refusal freed them."""
    document = plan([organization(i) for i in range(3)], [inspector(i) for i in range(3)], sample_size=2)
    checked = 0
    for value in range(300):
        first = draw.draw(document, str(value))
        for target in first.targets:
            for second_target in first.targets:
                refusals = [refusal(target.target_id, target.inspectors[0])]
                try:
                    again = draw.draw(document, str(value), refusals)
                    later = again.targets[[t.target_id for t in again.targets].index(second_target.target_id)]
                    if later.inspectors:
                        refusals.append(refusal(later.target_id, later.inspectors[0]))
                    again = draw.draw(document, str(value), refusals)
                except ValueError:
                    continue  # that expert was not drawn for that target any more
                excluded = {(e.target_id, e.expert_id) for e in again.exclusions}
                assert not any((t.target_id, e) in excluded for t in again.targets for e in t.inspectors)
                checked += 1
    assert checked > 300


def test_every_avoidance_is_on_record_even_where_the_walk_never_came() -> None:
    target = organization(1)
    tied = inspector(9, tied_organizations=[TiedOrganization(organization_code=target.organization_code, reason="x")])
    document = plan([target], [inspector(1), inspector(2), tied], inspectors_per_target=1)
    for value in range(30):
        result = draw.draw(document, str(value))
        assert tied.expert_id not in result.targets[0].inspectors
        assert (target.target_id, tied.expert_id) in {(e.target_id, e.expert_id) for e in result.exclusions}


def test_rotation_counts_from_the_day_the_plan_is_published() -> None:
    target = organization(1)
    recent = inspector(1, inspected=[PastInspection(organization_code=target.organization_code, on=PUBLISHED)])
    old = inspector(2, inspected=[PastInspection(organization_code=target.organization_code, on=date(2025, 5, 1))])
    document = plan([target], [recent, old])
    assert (
        draw.exclusion_reason(document.terms, target, recent) == f"rotation: inspected the organization on {PUBLISHED}"
    )
    assert draw.exclusion_reason(document.terms, target, old) is None


def test_the_value_is_read_by_its_numbers_and_must_have_as_many_as_announced() -> None:
    assert draw.value_numbers("红球 03,07,12 蓝球 09") == "3 7 12 9" == draw.value_numbers("３ ７ １２ ９")
    document = plan([organization(1)], [inspector(1)], entropy_numbers=4)
    assert draw.value_error(document.terms, "03 07 12 + 09") is None
    assert "4 numbers; 3 were entered" in (draw.value_error(document.terms, "03 07 12") or "")


def test_the_verifier_checks_that_the_value_came_after_the_plan_and_the_draw_after_the_value() -> None:
    document = plan([organization(1)], [inspector(1), inspector(2)])
    result = made(document, "8")
    assert draw.verify(document, result) == []
    early = result.model_copy(update={"drawn_on": PUBLISHED})
    assert any(problem.startswith("timing") for problem in draw.verify(document, early))
    wrong = result.model_copy(update={"public_value": "8 9"})
    assert any(problem.startswith("public value") for problem in draw.verify(document, wrong))
