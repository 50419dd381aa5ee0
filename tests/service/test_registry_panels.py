"""The technical assessment by drawn experts [L8, Z五(五)]: registry's consumer of `experts dispatched`
(services/registry/flows.py) keeps the panel supervision drew for each application, and the assessment
(services/registry/service.py, rules.py) accepts opinions of its members only; during the policy's transition
(`free_text_experts_until`) an expert typed in is still accepted, marked not drawn.

The date is the service's clock: each test runs the registry on an adjustable clock and a copy of Zhejiang's
policy whose transition ends `TRANSITION_DAYS` after the real date, so the tests do not depend on the day they run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlmodel import col

from infra.migrations import alembic_config
from infra.walkthrough import credit_code, organization_application
from services.registry.models import (
    AssessmentCreate,
    AssessmentPanelMember,
    ExpertOpinion,
    OpinionCreate,
    Organization,
    OrganizationStatus,
    Transition,
)
from services.registry.rules import application_id_of, check_assessment, free_text_experts_accepted
from shared.kernel.clock import Clock
from shared.kernel.errors import FieldError, NotFound
from shared.kernel.events import EXPERTS_DISPATCHED, DispatchedExpert, ExpertsDispatched
from shared.kernel.policy import POLICIES_DIR, Policy, policy_for
from shared.platform.outbox import OutboxEvent
from tests.service import samples
from tests.service.conftest import ServiceBus, running

# The consumer's handlers this file tests (tests/service/test_registry_handlers.py checks all are tested).
TESTED = {EXPERTS_DISPATCHED.type}

TRANSITION_DAYS = 3  # the copied policy's transition ends this many days after the real date
PANEL = [("33-E000011", "张专家", "33"), ("33-E000012", "李专家", "33"), ("31-E000013", "王专家", "31")]
DRAWN = [
    {"expert": expert_id, "kind": kind, "passed": True}
    for (expert_id, _, _), kind in zip(PANEL, ("material_check", "argument", "on_site"), strict=True)
]
TYPED_IN = [
    {"expert": name, "kind": kind, "passed": True}
    for name, kind in (("赵专家", "material_check"), ("钱专家", "argument"), ("孙专家", "on_site"))
]
NO_PANEL = "no panel drawn for this application: ask supervision to draw one [L8]"


def policy_until(directory: Path, until: date) -> Path:
    """A copy of Zhejiang's policy whose transition ends `until`."""
    shipped = (POLICIES_DIR / "33-zhejiang.toml").read_text(encoding="utf-8")
    line = "free_text_experts_until = 2027-06-30"
    assert line in shipped
    directory.mkdir(parents=True, exist_ok=True)
    copied = shipped.replace(line, f"free_text_experts_until = {until}")
    (directory / "33-zhejiang.toml").write_text(copied, encoding="utf-8")
    return directory


@pytest.fixture
async def registry(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    """The registry on an adjustable clock, its transition ending `TRANSITION_DAYS` from today."""
    until = Clock().today() + timedelta(days=TRANSITION_DAYS)
    async with running(
        "registry",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock" / "33.days",
        policies_dir=policy_until(tmp_path / "policies", until),
    ) as bus:
        yield bus


def move_clock(registry: ServiceBus, days: int) -> date:
    return registry.runtime.clock.move_on(days).today


def on_the_last_day_of_the_transition(registry: ServiceBus) -> None:
    assert move_clock(registry, TRANSITION_DAYS) == registry.runtime.settings.policy.supervision.free_text_experts_until


def after_the_transition(registry: ServiceBus) -> None:
    until = registry.runtime.settings.policy.supervision.free_text_experts_until
    assert move_clock(registry, TRANSITION_DAYS + 1) == until + timedelta(days=1)


def dispatched(
    application_id: int | str,
    experts: list[tuple[str, str, str]] = PANEL,
    *,
    purpose: str = "technical_assessment",
    plan_id: str = "33-P000007",
    avoiding: str = credit_code("33", 1),
) -> ExpertsDispatched:
    """The panel supervision drew for the application, avoiding `avoiding` (the applicant of `under_review`)."""
    subject = application_id if isinstance(application_id, str) else f"application-{application_id}"
    return ExpertsDispatched.model_validate(
        {
            **samples.experts_dispatched(subject).model_dump(),
            "organization_code": avoiding,
            "plan_id": plan_id,
            "purpose": purpose,
            "experts": [DispatchedExpert(expert_id=e, name=n, province=p) for e, n, p in experts],
        }
    )


async def under_review(registry: ServiceBus, number: int = 1) -> int:
    """An application submitted, accepted and through its preliminary review: awaiting its technical assessment.
    The sample is a province-level body: the province selects it and does every step [L5]."""
    official = city = registry.token("province_official")
    async with registry.http() as client:
        submitted = await client.post("/applications", json=organization_application("33", number), headers=official)
        assert submitted.status_code == 201, submitted.text
        application_id = int(submitted.json()["id"])
        assert (await client.post(f"/applications/{application_id}/accept", headers=city)).status_code == 200
        reviewed = await client.post(
            f"/applications/{application_id}/preliminary-review", json={"passed": True}, headers=city
        )
        assert reviewed.json()["status"] == "preliminary_reviewed"
    return application_id


async def assess(registry: ServiceBus, application_id: int, opinions: list[dict[str, Any]]) -> Any:
    async with registry.http() as client:
        return await client.post(
            f"/applications/{application_id}/technical-assessment",
            json={"opinions": opinions},
            headers=registry.token("province_official"),
        )


async def application(registry: ServiceBus, application_id: int) -> dict[str, Any]:
    async with registry.http() as client:
        response = await client.get(f"/applications/{application_id}", headers=registry.token("province_official"))
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def panel(registry: ServiceBus, application_id: int) -> list[tuple[str, str, str, str]]:
    rows = registry.rows(
        AssessmentPanelMember,
        AssessmentPanelMember.application_id == application_id,
        order_by=col(AssessmentPanelMember.id),
    )
    return [(m.plan_id, m.expert_id, m.name, m.province) for m in rows]


def opinions(registry: ServiceBus, application_id: int) -> list[tuple[str, str | None, bool]]:
    rows = registry.rows(ExpertOpinion, ExpertOpinion.organization_id == application_id, order_by=col(ExpertOpinion.id))
    return [(o.expert, o.expert_name, o.drawn) for o in rows]


# --- the panel ------------------------------------------------------------------------------------------


async def test_a_dispatched_panel_is_kept_and_a_later_one_replaces_it(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    first = samples.envelope(dispatched(application_id))
    await registry.deliver(first)
    await registry.deliver(first)  # delivered again: applied once
    assert panel(registry, application_id) == [("33-P000007", *member) for member in PANEL]
    assert registry.processed() == 1

    # 王专家 refused (avoidance); supervision re-sends the whole panel with the replacement.
    replaced = [*PANEL[:2], ("32-E000021", "周专家", "32")]
    await registry.deliver(samples.envelope(dispatched(application_id, replaced, plan_id="33-P000008")))
    assert panel(registry, application_id) == [("33-P000008", *member) for member in replaced]
    shown = (await application(registry, application_id))["panel"]
    assert [(m["expert_id"], m["name"], m["province"]) for m in shown] == replaced

    # An expert named twice is one member; another application's panel is its own.
    other = await under_review(registry, 2)
    await registry.deliver(samples.envelope(dispatched(other, [PANEL[0], PANEL[0]])))
    assert panel(registry, other) == [("33-P000007", *PANEL[0])]
    assert len(panel(registry, application_id)) == 3


@pytest.mark.parametrize(
    ("subject", "error"),
    [
        ("batch-1", FieldError),
        ("application-", FieldError),
        ("application-x1", FieldError),
        ("application-01", FieldError),
        ("S000033000001", FieldError),
        ("application-999", NotFound),
    ],
)
async def test_a_panel_for_an_ill_formed_or_unknown_application_is_refused_and_nothing_is_kept(
    registry: ServiceBus, subject: str, error: type[Exception]
) -> None:
    """A deterministic error, raised by the handler: it stores nothing and is not recorded as applied. (The
    platform dead-letters only what it cannot parse (shared/platform/bus.py): this is delivered again.)"""
    await under_review(registry)
    with pytest.raises(error):
        await registry.deliver(samples.envelope(dispatched(subject)))
    assert registry.processed() == 0
    assert registry.count(AssessmentPanelMember) == 0
    assert registry.dead_letters == []


async def test_panels_for_other_purposes_are_recognitions_and_ignored(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    await registry.deliver(samples.envelope(samples.experts_dispatched()))  # quality supervisors of a batch
    await registry.deliver(samples.envelope(dispatched(application_id, purpose="performance_review")))
    await registry.deliver(samples.envelope(dispatched("batch-1", purpose="quality_supervision")))
    assert registry.count(AssessmentPanelMember) == 0
    assert registry.processed() == 3
    assert registry.dead_letters == []


# --- the assessment -------------------------------------------------------------------------------------


async def test_after_the_transition_an_expert_not_drawn_is_refused_and_nothing_changes(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    await registry.deliver(samples.envelope(dispatched(application_id)))
    after_the_transition(registry)
    trail_before = registry.count(Transition, Transition.organization_id == application_id)
    events_before = registry.count(OutboxEvent)

    mixed = [DRAWN[0], TYPED_IN[1], {**DRAWN[2], "expert": "33-E000099"}]
    refused = await assess(registry, application_id, mixed)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert [d["field"] for d in detail] == ["opinions.1.expert", "opinions.2.expert"]  # every error at once
    assert detail[0]["reason"].startswith("钱专家 is not on the panel supervision drew for this application")
    assert "33-E000011 张专家" in detail[0]["reason"] and "[L8, Z五(五)]" in detail[0]["reason"]
    assert "33-E000099 is not on the panel" in detail[1]["reason"]

    shown = await application(registry, application_id)
    assert shown["status"] == OrganizationStatus.PRELIMINARY_REVIEWED.value
    assert shown["opinions"] == []
    assert opinions(registry, application_id) == []
    assert registry.count(Transition, Transition.organization_id == application_id) == trail_before
    assert registry.count(OutboxEvent) == events_before


async def test_after_the_transition_an_application_without_a_panel_cannot_be_assessed(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    after_the_transition(registry)
    refused = await assess(registry, application_id, TYPED_IN[:2])
    assert refused.status_code == 422
    assert refused.json()["detail"] == [  # the missing kind and the missing panel, at once
        {
            "field": "opinions",
            "reason": "the technical assessment needs opinions of every kind; missing: on_site [L8]",
        },
        {"field": "opinions", "reason": NO_PANEL},
    ]
    assert (await application(registry, application_id))["status"] == "preliminary_reviewed"


async def test_an_assessment_by_drawn_experts_passes_with_their_names(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    await registry.deliver(samples.envelope(dispatched(application_id)))
    after_the_transition(registry)
    response = await assess(registry, application_id, DRAWN)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == OrganizationStatus.TECHNICALLY_ASSESSED.value
    assert [(o["expert"], o["expert_name"], o["drawn"]) for o in response.json()["opinions"]] == [
        (expert_id, name, True) for expert_id, name, _ in PANEL
    ]
    assert opinions(registry, application_id) == [(expert_id, name, True) for expert_id, name, _ in PANEL]


async def test_a_panel_drawn_avoiding_another_organization_is_refused(registry: ServiceBus) -> None:
    """The draw avoided the employer and ties of the organization it was told of: if that is not the
    applicant, the panel avoided no one who matters [Z五(五) 回避]."""
    application_id = await under_review(registry)
    await registry.deliver(samples.envelope(dispatched(application_id, avoiding=credit_code("33", 2))))
    after_the_transition(registry)
    response = await assess(registry, application_id, DRAWN)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["opinions"]
    assert credit_code("33", 2) in response.json()["detail"][0]["reason"]
    assert (await application(registry, application_id))["status"] == OrganizationStatus.PRELIMINARY_REVIEWED.value


async def test_a_failed_opinion_of_a_drawn_expert_rejects_naming_the_expert(registry: ServiceBus) -> None:
    application_id = await under_review(registry)
    await registry.deliver(samples.envelope(dispatched(application_id)))
    failed = [*DRAWN[:2], {**DRAWN[2], "passed": False, "note": "场地与申报不符"}]
    response = await assess(registry, application_id, failed)
    assert response.json()["status"] == OrganizationStatus.REJECTED.value
    assert response.json()["trail"][-1]["reason"] == "on_site by 王专家 (31-E000013): 场地与申报不符"


async def test_during_the_transition_an_expert_typed_in_is_accepted_and_marked_not_drawn(
    registry: ServiceBus,
) -> None:
    with_panel, without_panel = await under_review(registry), await under_review(registry, 2)
    await registry.deliver(samples.envelope(dispatched(with_panel)))
    on_the_last_day_of_the_transition(registry)

    mixed = [DRAWN[0], *TYPED_IN[1:]]
    response = await assess(registry, with_panel, mixed)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "technically_assessed"
    expected = [("33-E000011", "张专家", True), ("钱专家", None, False), ("孙专家", None, False)]
    assert [(o["expert"], o["expert_name"], o["drawn"]) for o in response.json()["opinions"]] == expected
    assert opinions(registry, with_panel) == expected

    # No panel drawn at all: still accepted until the transition ends, every opinion marked.
    response = await assess(registry, without_panel, TYPED_IN)
    assert response.status_code == 200, response.text
    assert [o["drawn"] for o in (await application(registry, without_panel))["opinions"]] == [False] * 3
    rejected = Organization.status == OrganizationStatus.REJECTED
    assert registry.count(Organization, rejected) == 0


# --- the pure rules ---------------------------------------------------------------------------------------


def zhejiang_until(until: date | None) -> Policy:
    policy = policy_for("33")
    supervision = policy.supervision.model_copy(update={"free_text_experts_until": until})
    return policy.model_copy(update={"supervision": supervision})


def test_the_subject_names_an_application_by_its_id() -> None:
    assert application_id_of("application-12") == 12
    for subject in ("application-0", "application-012", "application-12 ", "Application-12", "batch-12", "12"):
        assert application_id_of(subject) is None, subject


def test_typed_in_experts_are_accepted_to_the_last_day_of_the_transition_only() -> None:
    last_day = date(2027, 6, 30)
    assert free_text_experts_accepted(zhejiang_until(last_day), last_day)
    assert not free_text_experts_accepted(zhejiang_until(last_day), last_day + timedelta(days=1))
    assert not free_text_experts_accepted(zhejiang_until(None), date(2026, 1, 1))  # no transition at all


def test_every_refusal_of_an_assessment_is_reported_at_once() -> None:
    assessment = AssessmentCreate(opinions=[OpinionCreate.model_validate(o) for o in [DRAWN[0], TYPED_IN[1]]])
    drawn = {expert_id: name for expert_id, name, _ in PANEL}
    today = date(2026, 12, 1)

    def refusals(panel: dict[str, str], policy: Policy) -> list[tuple[str, str]]:
        found = check_assessment(assessment.opinions, panel=panel, policy=policy, today=today)
        return [(e.field, e.reason) for e in found]

    missing_kind = ("opinions", "the technical assessment needs opinions of every kind; missing: on_site [L8]")
    never = zhejiang_until(None)  # a province without a transition
    [kind, expert] = refusals(drawn, never)
    assert kind == missing_kind
    assert expert[0] == "opinions.1.expert"
    assert expert[1].startswith("钱专家 is not on the panel") and "accepted until" not in expert[1]
    assert refusals({}, never) == [missing_kind, ("opinions", NO_PANEL)]
    assert refusals({}, zhejiang_until(today)) == [missing_kind]  # in the transition: only the missing kind


def test_opinions_recorded_before_panels_are_marked_not_drawn_by_the_migration(tmp_path: Path) -> None:
    """Every expert was typed in before the registry kept drawn panels: the migration says so of their opinions."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    config = alembic_config("registry", url)
    command.upgrade(config, "34f381145fe0")  # the initial schema
    engine = create_engine(url)
    with engine.begin() as connection:  # SQLite without PRAGMA foreign_keys: the opinion alone will do
        connection.execute(
            text(
                "INSERT INTO expertopinion (organization_id, expert, kind, passed, recorded_at) "
                "VALUES (1, '张专家', 'on_site', 1, '2026-01-20 00:00:00')"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        row = connection.execute(text("SELECT expert, expert_name, drawn FROM expertopinion")).one()
    engine.dispose()
    assert tuple(row) == ("张专家", None, False)
