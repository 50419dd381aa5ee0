"""Supervision over HTTP and its consumers (services/supervision): the expert pool, the population from
recognition's events, plans with a verifiable draw, inspections signed and sealed, online monitoring.

The service runs with an adjustable clock in the test's directory, so a test publishes a plan today and
moves the province's date on to the day the public value comes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session

from infra.walkthrough import candidate, credit_code
from services.supervision import draw as draw_module
from services.supervision import flows
from services.supervision.models import (
    Alert,
    Expert,
    Finding,
    Inspection,
    InspectionPlan,
    OrganizationDivision,
    PartnerExpert,
    PlannedBatch,
    PublishedResults,
)
from services.supervision.record import record_problems
from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_PUBLISHED,
    BATCH_RESULTS_REPORTED,
    BATCH_WITHDRAWN,
    DRAW_MADE,
    EXPERT_SHARED,
    EXPERTS_DISPATCHED,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    BatchStaffMember,
    ComponentDistribution,
    DrawMade,
    FiledSite,
    InspectionPlanPublished,
    InspectionRecorded,
    RepeatedScores,
)
from shared.platform.auth import Role
from shared.platform.outbox import OutboxEvent
from shared.platform.replicas import FiledOrganization
from tests.service import samples
from tests.service.conftest import ServiceBus, running

TESTED = {
    ORGANIZATION_FILED.type,
    ORGANIZATION_STATUS_CHANGED.type,
    ORGANIZATION_SCOPE_CHANGED.type,
    ORGANIZATION_DETAILS_CHANGED.type,
    BATCH_PLAN_APPROVED.type,
    BATCH_RESULTS_PUBLISHED.type,
    EXPERT_SHARED.type,
    # in test_supervision_cases.py
    BATCH_RESULTS_REPORTED.type,
    BATCH_RESULT_CORRECTED.type,
    BATCH_WITHDRAWN.type,
}
ORG = samples.ORGANIZATION
ORG_CREDIT = credit_code(samples.PROVINCE, 1)


def test_every_supervision_handler_is_tested_here_or_in_the_replica_tests() -> None:
    assert {contract.type for contract in flows.consumer.contracts} == TESTED


@pytest.fixture
async def supervision(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running(
        "supervision",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock.days",
    ) as bus:
        yield bus


def emitted(bus: ServiceBus, contract: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key, payload) of each event of `contract` the service put in its outbox, in order."""
    rows = bus.rows(OutboxEvent, OutboxEvent.event_type == contract.type, order_by=OutboxEvent.seq)
    return [(row.key, json.loads(row.body)["payload"]) for row in rows]


def today(bus: ServiceBus) -> date:
    return bus.runtime.clock.today()


def official(bus: ServiceBus) -> dict[str, str]:
    return bus.token(Role.PROVINCE_OFFICIAL)


def as_inspector(bus: ServiceBus, expert_id: str) -> dict[str, str]:
    return bus.token(Role.INSPECTOR, subject=expert_id)


def person(index: int) -> dict[str, str]:
    p = candidate(samples.PROVINCE, index)
    return {"name": p["name"], "id_type": p["id_type"], "id_number": p["id_number"]}


def expert_in(index: int, *, employer: str | None = None, ties: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        **person(index),
        "employer_credit_code": employer or credit_code(samples.PROVINCE, 500 + index),
        "employer_name": f"检验单位{index}",
        "employer_region": "330100",
        "kinds": ["quality_supervisor"],
        "qualifications": [
            {
                "occupation_code": "6-18-01-01",
                "occupation_name": "车工",
                "levels": [5, 4, 3],
                "valid_from": "2020-01-01",
                "valid_until": "2035-12-31",
            }
        ],
        "ties": ties or [],
    }


async def register(client: httpx.AsyncClient, bus: ServiceBus, body: dict[str, Any]) -> str:
    response = await client.post("/experts", json=body, headers=official(bus))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def approve_batch(bus: ServiceBus, batch_id: str = samples.BATCH, **changes: Any) -> None:
    starts = today(bus) + timedelta(days=10)
    plan = samples.batch_plan(batch_id).model_copy(
        update={"exam_starts_on": starts, "exam_ends_on": starts + timedelta(days=1), **changes}
    )
    await bus.deliver(samples.envelope(plan))


async def file_organization(bus: ServiceBus) -> None:
    await bus.deliver(samples.envelope(samples.organization_filed().model_copy(update={"credit_code": ORG_CREDIT})))


def plan_body(bus: ServiceBus, **changes: Any) -> dict[str, Any]:
    return {
        "title": "2026年第四季度车工职业技能等级认定双随机抽查",
        "period_from": today(bus).isoformat(),
        "period_to": (today(bus) + timedelta(days=60)).isoformat(),
        "sample_size": 1,
        "inspectors_per_target": 2,
        "inspector_kinds": ["quality_supervisor"],
        "entropy_source": "中国福利彩票双色球下一期开奖号码",
        "entropy_numbers": 7,
        "entropy_expected_on": (today(bus) + timedelta(days=2)).isoformat(),
        **changes,
    }


@contextlib.asynccontextmanager
async def pool_and_batch(bus: ServiceBus) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    """A filed organization, one approved batch, and five experts: the first works for the organization."""
    await file_organization(bus)
    await approve_batch(bus)
    async with bus.http() as client:
        experts = [await register(client, bus, expert_in(100, employer=ORG_CREDIT))]
        experts += [await register(client, bus, expert_in(101 + i)) for i in range(4)]
        yield client, experts


async def publish_and_draw(bus: ServiceBus, client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/plans", json=plan_body(bus, **changes), headers=official(bus))
    assert response.status_code == 201, response.text
    plan_id = response.json()["id"]
    bus.runtime.clock.move_on(2)
    drawn = await client.post(
        f"/plans/{plan_id}/draw", json={"public_value": "03 07 12 19 25 31 + 09"}, headers=official(bus)
    )
    assert drawn.status_code == 200, drawn.text
    documents = await client.get(f"/plans/{plan_id}/documents", headers=official(bus))
    return dict(documents.json())


# --- the expert pool ----------------------------------------------------------------------------------


async def test_an_expert_is_registered_once_with_a_valid_id_and_credit_code(supervision: ServiceBus) -> None:
    async with supervision.http() as client:
        expert_id = await register(client, supervision, expert_in(1))
        assert expert_id == "33-E000001"
        again = await client.post("/experts", json=expert_in(1), headers=official(supervision))
        assert again.status_code == 409 and expert_id in again.json()["detail"]
        bad = {**expert_in(2), "id_number": "330106199001011234", "employer_credit_code": "123"}
        response = await client.post("/experts", json=bad, headers=official(supervision))
        assert response.status_code == 422
        assert {e["field"] for e in response.json()["detail"]} == {"id_number", "employer_credit_code"}
        refused = await client.post("/experts", json=expert_in(3), headers=supervision.token(Role.INSPECTOR))
        assert refused.status_code == 403
        listed = await client.get("/experts", headers=official(supervision))
        assert listed.json()["count"] == 1


async def test_an_expert_sees_and_corrects_their_own_declarations(supervision: ServiceBus) -> None:
    async with supervision.http() as client:
        expert_id = await register(client, supervision, expert_in(1))
        mine = supervision.token(Role.EXPERT, subject=expert_id)
        record = await client.get("/experts/me", headers=mine)
        assert record.status_code == 200 and record.json()["ties"] == []
        tie = {"kind": "trained", "organization_code": ORG}
        corrected = await client.put("/experts/me/declarations", json={"ties": [tie]}, headers=mine)
        assert corrected.status_code == 200
        assert corrected.json()["ties"][0]["organization_code"] == ORG
        assert any("declarations corrected" in e["content"] for e in corrected.json()["entries"])
        stranger = supervision.token(Role.EXPERT, subject="33-E999999")
        assert (await client.get("/experts/me", headers=stranger)).status_code == 404


async def test_assessments_and_the_integrity_archive_are_kept(supervision: ServiceBus) -> None:
    async with supervision.http() as client:
        expert_id = await register(client, supervision, expert_in(1))
        entry = {
            "kind": "annual_assessment",
            "on": today(supervision).isoformat(),
            "content": "2026年度考核",
            "result": "合格",
        }
        response = await client.post(f"/experts/{expert_id}/entries", json=entry, headers=official(supervision))
        assert response.status_code == 201
        future = {**entry, "on": (today(supervision) + timedelta(days=1)).isoformat()}
        assert (
            await client.post(f"/experts/{expert_id}/entries", json=future, headers=official(supervision))
        ).status_code == 422
        suspended = await client.patch(
            f"/experts/{expert_id}",
            json={"status": "suspended", "reason": "年度考核不合格"},
            headers=official(supervision),
        )
        kinds = [e["kind"] for e in suspended.json()["entries"]]
        assert suspended.json()["status"] == "suspended" and kinds == ["change", "annual_assessment", "change"]


async def test_a_shared_expert_is_published_without_an_id_number_and_kept_by_partners(
    supervision: ServiceBus,
) -> None:
    async with supervision.http() as client:
        await register(client, supervision, {**expert_in(1), "shared": True})
    [(_, payload)] = emitted(supervision, EXPERT_SHARED)
    assert person(1)["id_number"] not in json.dumps(payload, ensure_ascii=False)

    # Zhejiang's policy lists Shanghai and Jiangsu as partners; Guangxi's experts are not kept.
    await supervision.deliver(samples.envelope(samples.expert_shared("31-E000007"), province="31"))
    await supervision.deliver(samples.envelope(samples.expert_shared("45-E000001"), province="45"))
    assert [p.expert_id for p in supervision.rows(PartnerExpert)] == ["31-E000007"]
    withdrawn = samples.expert_shared("31-E000007").model_copy(update={"shared": False})
    await supervision.deliver(samples.envelope(withdrawn, province="31"))
    assert [p.shared for p in supervision.rows(PartnerExpert)] == [False]


# --- the population -------------------------------------------------------------------------------------


async def test_an_approved_batch_joins_the_population_with_its_staff_masked(supervision: ServiceBus) -> None:
    await approve_batch(supervision)
    await approve_batch(supervision, "batch-new-site", new_site=True, site_city="宁波市")
    async with supervision.http() as client:
        inspector = supervision.token(Role.INSPECTOR)
        upcoming = await client.get("/batches", params={"when": "upcoming"}, headers=inspector)
        assert upcoming.json()["count"] == 2
        new_sites = await client.get("/batches", params={"new_site": True}, headers=inspector)
        assert [b["batch_id"] for b in new_sites.json()["data"]] == ["batch-new-site"]
        assert (await client.get("/batches", params={"when": "running"}, headers=inspector)).json()["count"] == 0
        plan = await client.get(f"/batches/{samples.BATCH}", headers=inspector)
        staff = plan.json()["staff"]
        assert [s["role"] for s in staff] == ["examiner", "quality_supervisor"]
        assert "*" in staff[0]["id_number"] and staff[0]["id_number"] != samples.batch_plan().staff[0].id_number
        assert (await client.get("/batches/none", headers=inspector)).status_code == 404
        assert (await client.get("/batches")).status_code == 401


@pytest.mark.parametrize(
    ("city", "population"), [("杭州市", sorted([samples.BATCH, "batch-ningbo"])), ("宁波市", ["batch-ningbo"])]
)
async def test_a_batch_at_a_new_site_is_in_both_divisions_populations(
    supervision: ServiceBus, city: str, population: list[str]
) -> None:
    """A 杭州 organization's batch at a new site in 宁波 is under both cities [G四(二); Z四(一)]: a plan of either
    draws from it; a batch of the organization at its filed site is 杭州's only."""
    async with pool_and_batch(supervision) as (client, _):
        await approve_batch(supervision, "batch-ningbo", new_site=True, site_city="宁波市", site_region="330203")
        body = plan_body(supervision, population={"cities": [city]})
        published = await client.post("/plans", json=body, headers=official(supervision))
        assert published.status_code == 201, published.text
        documents = await client.get(f"/plans/{published.json()['id']}/documents", headers=official(supervision))
    assert sorted(t["target_id"] for t in documents.json()["plan"]["targets"]) == population
    [kept] = supervision.rows(PlannedBatch, PlannedBatch.batch_id == "batch-ningbo")
    assert kept.site_region == "330203"


@pytest.mark.parametrize(
    ("area", "population"),
    [
        ("330100", sorted([samples.BATCH, "batch-ningbo"])),  # 杭州市: the site of one, the organization's city
        ("330106", sorted([samples.BATCH, "batch-ningbo"])),  # 西湖区: the organization's registered address
        ("330200", ["batch-ningbo"]),  # 宁波市: the new site's city
        ("330203", ["batch-ningbo"]),  # 海曙区: the new site's county
        ("330110", []),  # 余杭区: neither
    ],
)
async def test_a_plan_of_a_city_or_county_draws_the_batches_there_and_of_its_organizations(
    supervision: ServiceBus, area: str, population: list[str]
) -> None:
    """A plan names divisions by GB/T 2260 code [G四(二); Z四(一)]: a batch at a new site is in the population of the
    site's division (its code, else its city as named) and of the organization's own (its registered address,
    西湖区, and the division that selected it), in a city's plan and a county's."""
    async with pool_and_batch(supervision) as (client, _):
        await approve_batch(supervision, "batch-ningbo", new_site=True, site_city="宁波市", site_region="330203")
        body = plan_body(supervision, population={"cities": [area]})
        published = await client.post("/plans", json=body, headers=official(supervision))
        if not population:
            assert published.status_code == 422 and published.json()["detail"][0]["field"] == "population"
            return
        assert published.status_code == 201, published.text
        documents = await client.get(f"/plans/{published.json()['id']}/documents", headers=official(supervision))
    assert sorted(t["target_id"] for t in documents.json()["plan"]["targets"]) == population


async def test_a_city_selected_organization_is_in_its_citys_plans_wherever_it_sits(supervision: ServiceBus) -> None:
    """An organization 宁波市 selected [L5] (registered in 杭州) is 宁波's own: its batch at its filed site in 杭州
    is in 宁波's plan of organizations and of batches, and in 杭州's of batches (the site is there)."""
    filed = samples.organization_filed().model_copy(update={"credit_code": ORG_CREDIT, "selected_by": "330200"})
    await supervision.deliver(samples.envelope(filed))
    await approve_batch(supervision)
    async with supervision.http() as client:
        for i in range(3):
            await register(client, supervision, expert_in(101 + i))
        for area, kind in (("330200", "organization"), ("330200", "batch"), ("330100", "batch")):
            body = plan_body(supervision, population={"cities": [area], "target_kind": kind})
            published = await client.post("/plans", json=body, headers=official(supervision))
            assert published.status_code == 201, published.text
            plan_id = published.json()["id"]
            documents = await client.get(f"/plans/{plan_id}/documents", headers=official(supervision))
            [target] = documents.json()["plan"]["targets"]
            assert target["organization_code"] == samples.ORGANIZATION
            supervision.runtime.clock.move_on(2)  # its value comes: the next plan of the period may be published
            drawn = await client.post(
                f"/plans/{plan_id}/draw", json={"public_value": "03 07 12 19 25 31 + 09"}, headers=official(supervision)
            )
            assert drawn.status_code == 200, drawn.text


@pytest.mark.parametrize("area", ["320100", "123456", "330000"])
async def test_a_plan_draws_in_cities_and_counties_of_its_province(supervision: ServiceBus, area: str) -> None:
    async with pool_and_batch(supervision) as (client, _):
        body = plan_body(supervision, population={"cities": ["杭州市", area]})
        response = await client.post("/plans", json=body, headers=official(supervision))
    assert response.status_code == 422 and [e["field"] for e in response.json()["detail"]] == ["population.cities.1"]


async def test_details_changes_apply_in_the_order_they_were_approved(supervision: ServiceBus) -> None:
    """Changes of information or sites [L11; S附件3] are approved in any order of their requests: the latest
    approved wins; an earlier one delivered late, or the filing delivered again, brings nothing old back. The
    organization moved to 宁波 is then in 宁波's population."""
    filed = samples.envelope(samples.organization_filed())
    await supervision.deliver(filed)
    first = samples.details_changed().model_copy(update={"change_id": 7, "effective_on": date(2026, 3, 1)})
    moved = samples.details_changed().model_copy(
        update={
            "change_id": 5,  # requested before, approved after
            "name": "宁波市技能培训评价中心",
            "region": "330203",
            "sites": [FiledSite(address="宁波市海曙区中山西路1号", city="宁波市", county="海曙区", region="330203")],
            "effective_on": date(2026, 3, 2),
        }
    )
    await supervision.deliver(samples.envelope(first))
    later = samples.envelope(moved)
    await supervision.deliver(later)
    await supervision.deliver(later)  # delivered again
    await supervision.deliver(samples.envelope(first))  # the earlier one, sent again (another event)
    await supervision.deliver(filed.model_copy(update={"id": uuid.uuid4()}))  # the filing, sent again
    [replica] = supervision.rows(FiledOrganization)
    assert replica.name == "宁波市技能培训评价中心" and [s["region"] for s in replica.sites] == ["330203"]
    [division] = supervision.rows(OrganizationDivision)
    assert (division.region, division.selected_by, division.details and division.details["change_id"]) == (
        "330203",
        "330000",
        5,
    )
    async with supervision.http() as client:
        for i in range(3):
            await register(client, supervision, expert_in(101 + i))
        body = plan_body(supervision, population={"cities": ["330203"], "target_kind": "organization"})
        published = await client.post("/plans", json=body, headers=official(supervision))
        assert published.status_code == 201, published.text


async def test_a_later_publicity_round_replaces_the_earlier_in_the_norms(supervision: ServiceBus) -> None:
    """Corrected results published again (round 2, G三(五)) count once, as corrected; round 1 delivered late
    changes nothing."""
    await supervision.deliver(samples.envelope(results("b1", passed=20, components=[spread(40)])))
    await supervision.deliver(samples.envelope(results("b1", passed=24, round=2, components=[spread(40)])))
    await supervision.deliver(samples.envelope(results("b1", passed=10, components=[spread(40)])))
    [kept] = supervision.rows(PublishedResults)
    assert (kept.round, kept.passed) == (2, 24)


# --- the draw -----------------------------------------------------------------------------------------------


async def test_a_plan_is_drawn_verifiably_and_a_tied_inspector_is_never_drawn(
    supervision: ServiceBus, tmp_path: Path
) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        documents = await publish_and_draw(supervision, client, inspectors_per_target=4)
        made = DrawMade.model_validate(documents["draw"])
        [target] = made.targets
        assert target.target_id == samples.BATCH
        assert experts[0] not in target.inspectors and len(target.inspectors) == 4 and not target.short
        assert {(e.expert_id, e.reason) for e in made.exclusions} == {
            (experts[0], "employer: works for the organization")
        }

        # The offline verifier agrees, from the documents as downloaded.
        plan_file, draw_file = tmp_path / "plan.json", tmp_path / "draw.json"
        plan_file.write_text(json.dumps(documents["plan"], ensure_ascii=False))
        draw_file.write_text(json.dumps(documents["draw"], ensure_ascii=False))
        assert draw_module.main(["verify", str(plan_file), str(draw_file)]) == 0
        combined = tmp_path / "documents.json"
        combined.write_text(json.dumps(documents, ensure_ascii=False))
        assert draw_module.main(["verify", str(combined)]) == 0

        # Published: the plan with its snapshot, then the draw.
        types = [row.event_type for row in supervision.rows(OutboxEvent, order_by=OutboxEvent.seq)]
        assert types[-2:] == [INSPECTION_PLAN_PUBLISHED.type, DRAW_MADE.type]
        [inspection] = supervision.rows(Inspection)
        assert [i["expert_id"] for i in inspection.inspectors] == target.inspectors

        again = await client.post(
            f"/plans/{made.plan_id}/draw", json={"public_value": "another"}, headers=official(supervision)
        )
        assert again.status_code == 409


async def test_the_verifier_refuses_any_changed_input(supervision: ServiceBus, tmp_path: Path) -> None:
    async with pool_and_batch(supervision) as (client, _):
        documents = await publish_and_draw(supervision, client, inspectors_per_target=2)
    plan = InspectionPlanPublished.model_validate(documents["plan"])
    made = DrawMade.model_validate(documents["draw"])
    assert draw_module.verify(plan, made) == []
    other_value = made.model_copy(update={"public_value": "03 07 12 19 25 32 + 09"})
    assert any("seed" in p for p in draw_module.verify(plan, other_value))
    swapped = made.targets[0].model_copy(update={"inspectors": list(reversed(made.targets[0].inspectors))})
    assert draw_module.verify(plan, made.model_copy(update={"targets": [swapped]}))
    changed_terms = plan.model_copy(update={"terms": plan.terms.model_copy(update={"inspectors_per_target": 3})})
    assert any("plan_hash" in p for p in draw_module.verify(changed_terms, made))
    fewer = plan.model_copy(update={"inspectors": plan.inspectors[1:]})
    assert any("snapshot" in p for p in draw_module.verify(fewer, made))
    bad_file = tmp_path / "documents.json"
    bad_file.write_text(json.dumps({**documents, "draw": other_value.model_dump(mode="json")}, ensure_ascii=False))
    assert draw_module.main(["verify", str(bad_file)]) == 1


async def test_the_same_inputs_give_the_same_draw_and_weights_count(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        documents = await publish_and_draw(supervision, client)
    plan = InspectionPlanPublished.model_validate(documents["plan"])
    first, second = (
        draw_module.draw(plan, " 03 07 12  19 25 31 + 09 "),
        draw_module.draw(plan, "03 07 12 19 25 31 + 09"),
    )
    assert first == second  # the value is normalised: spaces do not change it
    assert draw_module.draw(plan, "03 07 12 19 25 31 + 10").seed != first.seed

    # Weighted sampling without replacement: a target of weight 9 is drawn about 9 times as often as one of 1.
    heavy, light = (
        plan.targets[0].model_copy(update={"target_id": name, "weight": w}) for name, w in (("h", 9), ("l", 1))
    )
    terms = plan.terms.model_copy(update={"sample_size": 1})
    skewed = plan.model_copy(update={"terms": terms, "targets": [heavy, light]})
    drawn = [draw_module.draw(skewed, f"value {i}").targets[0].target_id for i in range(400)]
    assert 320 <= drawn.count("h") <= 390  # expected 360


async def test_a_declared_tie_staff_membership_a_relative_and_no_qualification_each_exclude(
    supervision: ServiceBus,
) -> None:
    staff_member = samples.batch_plan().staff[0]
    await file_organization(supervision)
    await approve_batch(supervision)
    async with supervision.http() as client:
        tied = await register(client, supervision, expert_in(1, ties=[{"kind": "stake", "organization_code": ORG}]))
        relative = {
            "kind": "relative",
            "organization_code": credit_code(samples.PROVINCE, 500 + 77),
            "relative_id_number": staff_member.id_number,
        }
        related = await register(client, supervision, expert_in(2, ties=[relative]))
        staff = await register(
            client, supervision, {**expert_in(3), "id_number": staff_member.id_number, "name": staff_member.name}
        )
        unqualified = await register(client, supervision, {**expert_in(4), "qualifications": []})
        free = await register(client, supervision, expert_in(5))
        documents = await publish_and_draw(supervision, client, inspectors_per_target=5)
    made = DrawMade.model_validate(documents["draw"])
    starts_on = documents["plan"]["targets"][0]["starts_on"]
    reasons = {e.expert_id: e.reason for e in made.exclusions}
    assert reasons == {
        tied: "tie: declared tie (回避)",
        related: "tie: on its batch staff, or a relative is (回避)",
        staff: "tie: on its batch staff, or a relative is (回避)",
        unqualified: f"qualification: none valid for 6-18-01-01 level 4 on {starts_on}",
    }
    assert made.targets[0].inspectors == [free] and made.targets[0].short


async def test_whoever_inspected_an_organization_within_the_window_waits(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        first = DrawMade.model_validate((await publish_and_draw(supervision, client, inspectors_per_target=2))["draw"])
        earlier = first.targets[0].inspectors
        second = DrawMade.model_validate((await publish_and_draw(supervision, client, inspectors_per_target=2))["draw"])
    rotated = {e.expert_id for e in second.exclusions if e.reason.startswith("rotation: inspected")}
    assert rotated == set(earlier)
    assert not set(earlier) & set(second.targets[0].inspectors)


async def test_no_inspector_is_drawn_for_more_targets_than_the_plan_allows(supervision: ServiceBus) -> None:
    await file_organization(supervision)
    for index in range(3):
        await approve_batch(supervision, f"batch-{index}")
    async with supervision.http() as client:
        experts = [await register(client, supervision, expert_in(200 + i)) for i in range(2)]
        documents = await publish_and_draw(
            supervision, client, sample_size=3, inspectors_per_target=1, max_targets_per_inspector=1
        )
    made = DrawMade.model_validate(documents["draw"])
    drawn = [t.inspectors for t in made.targets]
    assert sorted(e for t in drawn for e in t) == sorted(experts)  # each once; the third target goes short
    assert [t.short for t in made.targets].count(True) == 1
    assert any("already drawn for 1 targets" in e.reason for e in made.exclusions)


async def test_a_refusal_is_redrawn_the_same_way_and_still_verifies(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        documents = await publish_and_draw(supervision, client, inspectors_per_target=2)
        made = DrawMade.model_validate(documents["draw"])
        refused = made.targets[0].inspectors[0]
        stranger = supervision.token(Role.EXPERT, subject=made.targets[0].inspectors[1])
        body = {
            "target_id": samples.BATCH,
            "expert_id": refused,
            "ground": "conflict_of_interest",
            "reason": "与被检查机构存在利害关系",
        }
        assert (await client.post(f"/plans/{made.plan_id}/refusals", json=body, headers=stranger)).status_code == 403
        response = await client.post(
            f"/plans/{made.plan_id}/refusals", json=body, headers=supervision.token(Role.EXPERT, subject=refused)
        )
        assert response.status_code == 201, response.text
        documents = (await client.get(f"/plans/{made.plan_id}/documents", headers=official(supervision))).json()
    again = DrawMade.model_validate(documents["draw"])
    [refusal] = again.refusals
    assert refusal.replaced_by not in (None, refused, experts[0])
    assert refused not in again.targets[0].inspectors and refusal.replaced_by in again.targets[0].inspectors
    assert draw_module.verify(InspectionPlanPublished.model_validate(documents["plan"]), again) == []
    [inspection] = supervision.rows(Inspection)
    assert refused not in [i["expert_id"] for i in inspection.inspectors]


async def test_bad_plans_and_early_values_are_refused_and_change_nothing(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        nobody = plan_body(supervision, population={"cities": ["温州市"]})
        response = await client.post("/plans", json=nobody, headers=official(supervision))
        assert response.status_code == 422 and [e["field"] for e in response.json()["detail"]] == ["population"]
        known_value = plan_body(supervision, entropy_expected_on=today(supervision).isoformat())
        response = await client.post("/plans", json=known_value, headers=official(supervision))
        assert [e["field"] for e in response.json()["detail"]] == ["entropy_expected_on"]
        assert (
            await client.post("/plans", json=plan_body(supervision), headers=supervision.token(Role.INSPECTOR))
        ).status_code == 403
        published = await client.post("/plans", json=plan_body(supervision), headers=official(supervision))
        plan_id = published.json()["id"]
        early = await client.post(
            f"/plans/{plan_id}/draw", json={"public_value": "03 07"}, headers=official(supervision)
        )
        assert early.status_code == 422 and early.json()["detail"][0]["field"] == "public_value"
        status_after = (await client.get(f"/plans/{plan_id}", headers=official(supervision))).json()
        assert status_after["status"] == "published" and status_after["seed"] is None
    assert supervision.count(Inspection) == 0


async def test_a_panel_for_another_service_is_dispatched_by_event(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        application = {"application_id": 12, "organization_credit_code": ORG_CREDIT, "organization_name": "申请机构"}
        body = plan_body(
            supervision,
            purpose="technical_assessment",
            application=application,
            inspectors_per_target=3,
            sample_size=None,
        )
        response = await client.post("/plans", json=body, headers=official(supervision))
        assert response.status_code == 201, response.text
        supervision.runtime.clock.move_on(2)
        drawn = await client.post(
            f"/plans/{response.json()['id']}/draw",
            json={"public_value": "01 02 03 04 05 06 07"},
            headers=official(supervision),
        )
        assert drawn.status_code == 200
    [(key, payload)] = emitted(supervision, EXPERTS_DISPATCHED)
    assert key == "application-12" and payload["purpose"] == "technical_assessment"
    assert len(payload["experts"]) == 3 and experts[0] not in {e["expert_id"] for e in payload["experts"]}
    assert supervision.count(Inspection) == 0


# --- inspections ------------------------------------------------------------------------------------------


async def drawn_inspection(bus: ServiceBus, client: httpx.AsyncClient) -> tuple[str, list[str]]:
    await publish_and_draw(bus, client, inspectors_per_target=2)
    [inspection] = bus.rows(Inspection)
    return inspection.id, [i["expert_id"] for i in inspection.inspectors]


async def test_an_inspection_with_two_findings_is_signed_sealed_and_published(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        inspection_id, inspectors = await drawn_inspection(supervision, client)
        first, second = (as_inspector(supervision, e) for e in inspectors)
        record = {
            "inspected_on": today(supervision).isoformat(),
            "items_checked": ["plan", "internal_supervisors", "exam_record"],
        }
        assert (await client.put(f"/inspections/{inspection_id}/record", json=record, headers=first)).status_code == 200
        for item, severity in (("plan", "minor"), ("internal_supervisors", "major")):
            finding = {
                "item_code": item,
                "severity": severity,
                "description": f"{item}: 与计划不符",
                "evidence": ["a" * 64],
            }
            response = await client.post(f"/inspections/{inspection_id}/findings", json=finding, headers=second)
            assert response.status_code == 201, response.text

        not_on_it = as_inspector(supervision, experts[0])
        assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=not_on_it)).status_code == 403
        other_org = supervision.token(Role.ORG_OPERATOR, "S000033000999")
        assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=other_org)).status_code == 403

        signed = await client.post(f"/inspections/{inspection_id}/signatures", headers=first)
        assert signed.json()["status"] == "signing"
        late = {"item_code": "plan", "severity": "minor", "description": "补充"}
        assert (
            await client.post(f"/inspections/{inspection_id}/findings", json=late, headers=second)
        ).status_code == 409
        assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=first)).status_code == 409
        await client.post(f"/inspections/{inspection_id}/signatures", headers=second)
        site = supervision.token(Role.ORG_OPERATOR, ORG)
        sealed = await client.post(f"/inspections/{inspection_id}/signatures", headers=site)
        body = sealed.json()
        assert body["status"] == "sealed" and body["awaiting"] == [] and len(body["findings"]) == 2
        chain = [s["chain_hash"] for s in body["signatures"]]
        assert len(set(chain)) == 3
        assert (
            await client.post(f"/inspections/{inspection_id}/findings", json=late, headers=second)
        ).status_code == 409
        history = await client.get(f"/organizations/{ORG}/inspections", headers=official(supervision))
        assert history.json()["count"] == 1
    [(key, payload)] = emitted(supervision, INSPECTION_RECORDED)
    assert key == inspection_id and len(payload["findings"]) == 2 and len(payload["signatures"]) == 3
    assert all(person(100 + i)["id_number"] not in json.dumps(payload) for i in range(5))


async def test_the_database_refuses_to_change_a_sealed_record(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        inspection_id, inspectors = await drawn_inspection(supervision, client)
        record = {"inspected_on": today(supervision).isoformat(), "items_checked": ["plan"]}
        await client.put(
            f"/inspections/{inspection_id}/record", json=record, headers=as_inspector(supervision, inspectors[0])
        )
        finding = {"item_code": "plan", "severity": "minor", "description": "座位表与计划不符"}
        await client.post(
            f"/inspections/{inspection_id}/findings", json=finding, headers=as_inspector(supervision, inspectors[0])
        )
        for headers in [*(as_inspector(supervision, e) for e in inspectors), supervision.token(Role.ORG_OPERATOR, ORG)]:
            await client.post(f"/inspections/{inspection_id}/signatures", headers=headers)
    statements = [
        "UPDATE inspection SET notes = 'changed' WHERE id = :id",
        "DELETE FROM inspection WHERE id = :id",
        "UPDATE inspection_finding SET description = 'changed' WHERE inspection_id = :id",
        "DELETE FROM inspection_signature WHERE inspection_id = :id",
        "INSERT INTO inspection_finding (inspection_id, item_code, item_title, article, severity, description, "
        "evidence, recorded_by, recorded_at) "
        "VALUES (:id, 'plan', 't', 'L27', 'minor', 'late', '[]', 'x', '2026-01-01')",
    ]
    for statement in statements:
        with Session(supervision.runtime.db) as session, pytest.raises(DatabaseError):
            session.execute(text(statement), {"id": inspection_id})
            session.commit()
    [finding_row] = supervision.rows(Finding)
    assert finding_row.description == "座位表与计划不符"


async def test_a_record_needs_known_items_and_is_written_by_its_inspectors(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        inspection_id, inspectors = await drawn_inspection(supervision, client)
        mine = as_inspector(supervision, inspectors[0])
        bad = {
            "inspected_on": (today(supervision) + timedelta(days=1)).isoformat(),
            "items_checked": ["plan", "bribes"],
        }
        response = await client.put(f"/inspections/{inspection_id}/record", json=bad, headers=mine)
        assert {e["field"] for e in response.json()["detail"]} == {"inspected_on", "items_checked.1"}
        good = {"inspected_on": today(supervision).isoformat(), "items_checked": ["plan"]}
        assert (
            await client.put(
                f"/inspections/{inspection_id}/record", json=good, headers=as_inspector(supervision, experts[0])
            )
        ).status_code == 403
        early = await client.post(f"/inspections/{inspection_id}/signatures", headers=mine)
        assert early.status_code == 409  # nothing recorded yet: nothing to sign


# --- online monitoring --------------------------------------------------------------------------------------


def alerts(bus: ServiceBus) -> list[tuple[str, str]]:
    return [(a.rule.value, a.batch_id) for a in bus.rows(Alert, order_by=Alert.id)]


def results(batch_id: str, *, sat: int = 40, passed: int = 28, **changes: Any) -> Any:
    return samples.results_published(batch_id, passed_count=passed, sat=sat).model_copy(update=changes)


def spread(sat: int, low: int = 40, high: int = 95) -> ComponentDistribution:
    """Scores spread evenly from `low` to `high`."""
    counts = [0] * 101
    for i in range(sat):
        counts[low + (i * (high - low)) // max(sat - 1, 1)] += 1
    return ComponentDistribution(component="theory", counts=counts)


async def test_a_pass_rate_far_above_the_norm_raises_an_alert(supervision: ServiceBus) -> None:
    for index in range(3):  # the provincial norm: 70%
        await supervision.deliver(samples.envelope(results(f"b{index}", components=[spread(40)])))
    assert alerts(supervision) == []
    await supervision.deliver(samples.envelope(results("high", passed=39, components=[spread(40)])))
    assert alerts(supervision) == [("pass_rate", "high")]
    await supervision.deliver(samples.envelope(results("high", passed=39, components=[spread(40)])))  # again: once
    assert alerts(supervision) == [("pass_rate", "high")]


async def test_identical_score_vectors_raise_an_alert(supervision: ServiceBus) -> None:
    few = [RepeatedScores(scores={"theory": 71, "skill": 80}, candidates=2)]
    await supervision.deliver(samples.envelope(results("normal", components=[spread(40)], repeated_scores=few)))
    assert alerts(supervision) == []
    many = [RepeatedScores(scores={"theory": 71, "skill": 80}, candidates=9)]
    await supervision.deliver(samples.envelope(results("copied", components=[spread(40)], repeated_scores=many)))
    assert alerts(supervision) == [("identical_scores", "copied")]


async def test_scores_piled_just_above_the_pass_mark_raise_an_alert(supervision: ServiceBus) -> None:
    await supervision.deliver(samples.envelope(results("normal", components=[spread(40)])))
    assert alerts(supervision) == []
    piled = [0] * 101
    piled[60], piled[61], piled[62], piled[58], piled[80] = 10, 8, 6, 1, 15
    component = ComponentDistribution(component="skill", counts=piled)
    await supervision.deliver(samples.envelope(results("piled", components=[component])))
    assert alerts(supervision) == [("scores_piled_at_pass", "piled")]


async def test_a_person_at_two_organizations_sites_on_one_day_raises_an_alert(supervision: ServiceBus) -> None:
    await approve_batch(supervision)
    other_staff = [BatchStaffMember(**person(950), role="examiner")]
    await approve_batch(supervision, "other-org", organization_code="S000033000002", staff=other_staff)
    assert alerts(supervision) == []
    shared_examiner = [samples.batch_plan().staff[0].model_copy(update={"role": "invigilator"})]
    await approve_batch(supervision, "double", organization_code="S000033000003", staff=shared_examiner)
    assert alerts(supervision) == [("double_booking", "double")]
    [alert] = supervision.rows(Alert)
    assert samples.batch_plan().staff[0].id_number not in alert.detail


async def test_a_batch_larger_than_its_site_raises_an_alert(supervision: ServiceBus) -> None:
    await approve_batch(supervision, candidates=40, site_capacity=40)
    assert alerts(supervision) == []
    await approve_batch(supervision, "crowded", candidates=60, site_capacity=40)
    assert alerts(supervision) == [("over_capacity", "crowded")]
    assert supervision.count(PlannedBatch) == 2


async def test_an_alert_becomes_an_inspection_or_a_finding_or_is_dismissed(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        await approve_batch(supervision, "crowded", candidates=60, site_capacity=40)
        [alert] = supervision.rows(Alert)
        decide = f"/alerts/{alert.id}/decision"
        tied = {"action": "inspect", "reason": "现场核查", "inspectors": [experts[0]]}
        response = await client.post(decide, json=tied, headers=official(supervision))
        assert response.status_code == 422 and "employer" in response.json()["detail"][0]["reason"]
        send = {"action": "inspect", "reason": "现场核查", "inspectors": experts[1:3]}
        response = await client.post(decide, json=send, headers=official(supervision))
        assert response.status_code == 200 and response.json()["status"] == "inspection"
        assert (await client.post(decide, json=send, headers=official(supervision))).status_code == 409
        inspection_id = response.json()["inspection_id"]

        await approve_batch(supervision, "crowded", candidates=61, site_capacity=40)  # same alert: not raised again
        await supervision.deliver(samples.envelope(results("crowded", passed=40, components=[spread(40)])))
        second = [a for a in supervision.rows(Alert) if a.status.value == "open"][0]
        as_finding = {
            "action": "finding",
            "reason": "在线监测发现",
            "inspection_id": inspection_id,
            "item_code": "candidates_identity",
        }
        response = await client.post(
            f"/alerts/{second.id}/decision", json=as_finding, headers=as_inspector(supervision, experts[1])
        )
        assert response.status_code == 200, response.text
        [finding] = supervision.rows(Finding)
        assert finding.inspection_id == inspection_id and "online monitoring" in finding.description
        dismiss = {"action": "dismiss", "reason": ""}
        assert (
            await client.post(f"/alerts/{second.id}/decision", json=dismiss, headers=official(supervision))
        ).status_code == 422


# --- on PostgreSQL too: the seal, and two people pressing the same button ------------------------------------


@pytest.fixture
async def supervision_on(database_url_factory: Any, tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    """Supervision on SQLite and on PostgreSQL."""
    async with running(
        "supervision",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock.days",
        database_url=database_url_factory("supervision"),
    ) as bus:
        yield bus


async def test_the_seal_holds_on_every_backend(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    async with pool_and_batch(bus) as (client, _):
        inspection_id, inspectors = await drawn_inspection(bus, client)
        record = {"inspected_on": today(bus).isoformat(), "items_checked": ["plan"]}
        await client.put(f"/inspections/{inspection_id}/record", json=record, headers=as_inspector(bus, inspectors[0]))
        for headers in [*(as_inspector(bus, e) for e in inspectors), bus.token(Role.ORG_OPERATOR, ORG)]:
            assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=headers)).status_code == 200
    for statement in (
        "UPDATE inspection SET notes = 'changed' WHERE id = :id",
        "DELETE FROM inspection WHERE id = :id",
    ):
        with Session(bus.runtime.db) as session, pytest.raises(DatabaseError):
            session.execute(text(statement), {"id": inspection_id})
            session.commit()
    [inspection] = bus.rows(Inspection)
    assert inspection.status.value == "sealed" and inspection.notes is None


async def test_two_officials_drawing_at_once_make_one_draw(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    async with pool_and_batch(bus) as (client, _):
        response = await client.post("/plans", json=plan_body(bus), headers=official(bus))
        plan_id = response.json()["id"]
        bus.runtime.clock.move_on(2)
        body = {"public_value": "03 07 12 19 25 31 + 09"}
        answers = await asyncio.gather(
            *(client.post(f"/plans/{plan_id}/draw", json=body, headers=official(bus)) for _ in range(3))
        )
    assert sorted(a.status_code for a in answers) == [200, 409, 409]
    assert len(emitted(bus, DRAW_MADE)) == 1 and bus.count(Inspection) == 1


async def test_two_inspectors_signing_at_once_chain_and_the_site_seals_once(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    async with pool_and_batch(bus) as (client, _):
        inspection_id, inspectors = await drawn_inspection(bus, client)
        record = {"inspected_on": today(bus).isoformat(), "items_checked": ["plan"]}
        await client.put(f"/inspections/{inspection_id}/record", json=record, headers=as_inspector(bus, inspectors[0]))
        answers = await asyncio.gather(
            *(client.post(f"/inspections/{inspection_id}/signatures", headers=as_inspector(bus, e)) for e in inspectors)
        )
        assert [a.status_code for a in answers] == [200, 200]
        site = bus.token(Role.ORG_OPERATOR, ORG)
        sealed = await asyncio.gather(
            *(client.post(f"/inspections/{inspection_id}/signatures", headers=site) for _ in "ab")
        )
    assert sorted(a.status_code for a in sealed) == [200, 409]
    [(_, payload)] = emitted(bus, INSPECTION_RECORDED)
    assert record_problems(InspectionRecorded.model_validate(payload)) == []  # each signature chained on the one before


# --- nobody steers a draw, and the inspected party cannot stop the record ------------------------------------


async def test_the_value_counts_by_its_numbers_so_no_other_spelling_can_be_picked(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        response = await client.post("/plans", json=plan_body(supervision), headers=official(supervision))
        plan_id = response.json()["id"]
        supervision.runtime.clock.move_on(2)
        short = await client.post(
            f"/plans/{plan_id}/draw", json={"public_value": "03 07 12 19 25 31"}, headers=official(supervision)
        )
        assert short.status_code == 422 and short.json()["detail"][0]["field"] == "public_value"
        assert "7 numbers; 6 were entered" in short.json()["detail"][0]["reason"]
        drawn = await client.post(
            f"/plans/{plan_id}/draw",
            json={"public_value": "红球 03,07,12,19,25,31 蓝球 09"},
            headers=official(supervision),
        )
        assert drawn.status_code == 200
        documents = (await client.get(f"/plans/{plan_id}/documents", headers=official(supervision))).json()
    plan = InspectionPlanPublished.model_validate(documents["plan"])
    assert DrawMade.model_validate(documents["draw"]).seed == draw_module.draw(plan, "3 7 12 19 25 31 9").seed
    assert (
        draw_module.draw(plan, "３ ７ １２ １９ ２５ ３１ ９").seed
        == draw_module.draw(plan, "03 07 12 19 25 31 + 09").seed
    )


async def test_a_backdated_period_and_a_second_plan_waiting_alongside_are_refused(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        past = (today(supervision) - timedelta(days=30)).isoformat()
        backdated = await client.post(
            "/plans", json=plan_body(supervision, period_from=past), headers=official(supervision)
        )
        assert backdated.status_code == 422 and backdated.json()["detail"][0]["field"] == "period_from"
        first = await client.post("/plans", json=plan_body(supervision), headers=official(supervision))
        assert first.status_code == 201
        rival = await client.post(
            "/plans", json=plan_body(supervision, title="同期第二个抽查计划"), headers=official(supervision)
        )
        assert rival.status_code == 409 and first.json()["id"] in rival.json()["detail"]
        application = {"application_id": 12, "organization_credit_code": ORG_CREDIT, "organization_name": "申请机构"}
        panel = plan_body(supervision, purpose="technical_assessment", application=application, sample_size=None)
        assert (await client.post("/plans", json=panel, headers=official(supervision))).status_code == 201
        assert (await client.post("/plans", json=panel, headers=official(supervision))).status_code == 409
        corrected = {**application, "organization_credit_code": credit_code(samples.PROVINCE, 2)}
        fixed = await client.post("/plans", json={**panel, "application": corrected}, headers=official(supervision))
        assert fixed.status_code == 201  # a new panel only to correct whom it avoids


async def test_an_official_records_only_coded_recusals_and_not_enough_to_walk_the_ranking(
    supervision: ServiceBus,
) -> None:
    async with pool_and_batch(supervision) as (client, _):
        documents = await publish_and_draw(supervision, client, inspectors_per_target=1)
        made = DrawMade.model_validate(documents["draw"])
        path = f"/plans/{made.plan_id}/refusals"

        def recusal(expert_id: str, ground: str = "conflict_of_interest") -> dict[str, str]:
            return {"target_id": samples.BATCH, "expert_id": expert_id, "ground": ground, "reason": "核实存在利害关系"}

        drawn = made.targets[0].inspectors[0]
        declined = await client.post(path, json=recusal(drawn, "declined"), headers=official(supervision))
        assert declined.status_code == 422 and declined.json()["detail"][0]["field"] == "ground"
        assert (await client.post(path, json=recusal(drawn), headers=official(supervision))).status_code == 201
        documents = (await client.get(f"/plans/{made.plan_id}/documents", headers=official(supervision))).json()
        again = DrawMade.model_validate(documents["draw"])
        assert (again.refusals[0].recorded_by, again.refusals[0].ground) == (
            "test-province_official",
            "conflict_of_interest",
        )
        replacement = again.targets[0].inspectors[0]
        capped = await client.post(path, json=recusal(replacement), headers=official(supervision))
        assert capped.status_code == 409  # one recusal per inspector slot; more need the experts' own declining
        own = await client.post(
            path, json=recusal(replacement, "unavailable"), headers=supervision.token(Role.EXPERT, subject=replacement)
        )
        assert own.status_code == 201


async def test_the_site_signs_after_the_inspectors_or_its_refusal_is_recorded(supervision: ServiceBus) -> None:
    async with pool_and_batch(supervision) as (client, _):
        inspection_id, inspectors = await drawn_inspection(supervision, client)
        first, second = (as_inspector(supervision, e) for e in inspectors)
        record = {"inspected_on": today(supervision).isoformat(), "items_checked": ["plan"], "notes": "现场记录"}
        await client.put(f"/inspections/{inspection_id}/record", json=record, headers=first)
        site = supervision.token(Role.ORG_OPERATOR, ORG)
        early = await client.post(f"/inspections/{inspection_id}/signatures", headers=site)
        assert early.status_code == 409 and "inspectors sign first" in early.json()["detail"]
        finding = {
            "item_code": "plan",
            "severity": "major",
            "description": "与计划不符",
            "public_summary": "与计划不符",
        }
        assert (
            await client.post(f"/inspections/{inspection_id}/findings", json=finding, headers=second)
        ).status_code == 201
        await client.post(f"/inspections/{inspection_id}/signatures", headers=first)
        refusal = {"reason": "负责人拒绝签字"}
        too_early = await client.post(f"/inspections/{inspection_id}/site-refusal", json=refusal, headers=first)
        assert too_early.status_code == 409
        await client.post(f"/inspections/{inspection_id}/signatures", headers=second)
        sealed = await client.post(f"/inspections/{inspection_id}/site-refusal", json=refusal, headers=first)
        assert sealed.status_code == 200 and sealed.json()["status"] == "sealed"
        assert "refused to sign" in sealed.json()["signatures"][-1]["role"]
        assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=site)).status_code == 409
    [(_, payload)] = emitted(supervision, INSPECTION_RECORDED)
    recorded = InspectionRecorded.model_validate(payload)
    assert record_problems(recorded) == []  # anyone recomputes the record hash and the chain from the event
    tampered = recorded.model_copy(update={"notes": "改过的记录"})
    assert record_problems(tampered)


async def test_an_inspector_neither_sends_themself_nor_writes_into_anothers_inspection(
    supervision: ServiceBus,
) -> None:
    async with pool_and_batch(supervision) as (client, experts):
        await approve_batch(supervision, "crowded", candidates=60, site_capacity=40)
        [alert] = supervision.rows(Alert)
        decide = f"/alerts/{alert.id}/decision"
        themself = {"action": "inspect", "reason": "现场核查", "inspectors": [experts[1]]}
        assert (
            await client.post(decide, json=themself, headers=as_inspector(supervision, experts[1]))
        ).status_code == 403
        sent = {"action": "inspect", "reason": "现场核查", "inspectors": experts[1:3]}
        inspection_id = (await client.post(decide, json=sent, headers=official(supervision))).json()["inspection_id"]
        await supervision.deliver(samples.envelope(results("crowded", passed=40, components=[spread(40)])))
        [second] = [a for a in supervision.rows(Alert) if a.status.value == "open"]
        as_finding = {
            "action": "finding",
            "reason": "在线监测发现",
            "inspection_id": inspection_id,
            "item_code": "plan",
        }
        outsider = as_inspector(supervision, experts[3])
        assert (
            await client.post(f"/alerts/{second.id}/decision", json=as_finding, headers=outsider)
        ).status_code == 403
        on_it = as_inspector(supervision, experts[1])
        assert (await client.post(f"/alerts/{second.id}/decision", json=as_finding, headers=on_it)).status_code == 200
    [finding] = supervision.rows(Finding)
    assert finding.public_summary == "在线监测：通过率显著高于全省同职业同等级水平"


async def test_an_expert_change_with_nulls_is_refused_and_id_numbers_are_masked_for_inspectors(
    supervision: ServiceBus,
) -> None:
    async with supervision.http() as client:
        expert_id = await register(client, supervision, expert_in(1))
        nulls = {"employer_credit_code": None, "status": None, "reason": "更正"}
        response = await client.patch(f"/experts/{expert_id}", json=nulls, headers=official(supervision))
        assert response.status_code == 422 and "employer_credit_code, status" in response.json()["detail"][0]["reason"]
        seen = await client.get(f"/experts/{expert_id}", headers=supervision.token(Role.INSPECTOR))
        assert seen.json()["id_number"] != person(1)["id_number"] and "*" in seen.json()["id_number"]
        full = await client.get(f"/experts/{expert_id}", headers=official(supervision))
        assert full.json()["id_number"] == person(1)["id_number"]
    documents_pool = supervision.rows(OutboxEvent)
    assert all(person(1)["name"] not in row.body for row in documents_pool)


async def test_one_person_registered_twice_at_once_is_one_expert(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    async with bus.http() as client:
        answers = await asyncio.gather(
            *(client.post("/experts", json=expert_in(1), headers=official(bus)) for _ in "ab")
        )
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert bus.count(Expert) == 1


async def test_two_plans_published_at_once_for_one_period_make_one(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    async with pool_and_batch(bus) as (client, _):
        answers = await asyncio.gather(
            *(client.post("/plans", json=plan_body(bus), headers=official(bus)) for _ in "ab")
        )
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert bus.count(InspectionPlan) == 1
