"""The occupation catalogue [L12; G一(二)]: the whole 职业分类大典 (2022), skill-type by the policy's categories,
access-type occupations refused, occupations published later added by the province, browsable over HTTP."""

from __future__ import annotations

from typing import Any

from infra.walkthrough import organization_application
from services.registry.models import AddedOccupation
from services.registry.occupations import occupation_catalogue
from tests.service.conftest import ServiceBus

# In the 大典 (2022) but not among the occupations the registry marked before: 6-01-01-01 (制米工).
UNMARKED_SKILL = "6-01-01-01"
PROFESSIONAL = "2-02-01-01"  # 地质实验测试工程技术人员: 专业技术人员, not skill-type
ACCESS = "6-18-02-04"  # 焊工: 准入类 in the bundled marks


def applying_for(code: str, name: str, number: int) -> dict[str, Any]:
    occupation: dict[str, Any] = {"occupation_code": code, "occupation_name": name, "levels": [5, 4]}
    occupation |= {"standard": "国家职业技能标准", "person_times": 500}
    return organization_application("33", number, occupations=[occupation], main_business_occupations=[code])


def test_the_catalogue_holds_every_occupation_of_the_2022_classification() -> None:
    catalogue = occupation_catalogue()
    # 1,631 occupations of the 大典 (test_registry_changes_and_catalogue.py), and 育婴员 under its 2015 code
    assert len(catalogue) == 1632
    assert catalogue[UNMARKED_SKILL].kind == "listed" and catalogue[UNMARKED_SKILL].levels == [5, 4, 3, 2, 1]
    assert catalogue[ACCESS].kind == "access"
    assert catalogue["4-12-01-01"].work_types  # the bundled marks keep their work types


async def test_an_occupation_is_recognised_by_its_category_and_never_when_access_type(registry: ServiceBus) -> None:
    name = occupation_catalogue()[UNMARKED_SKILL].name
    official = registry.token("province_official")
    async with registry.http() as client:
        accepted = await client.post("/applications", json=applying_for(UNMARKED_SKILL, name, 61), headers=official)
        assert accepted.status_code == 201, accepted.text
        for code, why in ((PROFESSIONAL, "not a skill-type occupation here"), (ACCESS, "access-type")):
            refused = await client.post("/applications", json=applying_for(code, "某职业", 62), headers=official)
            assert refused.status_code == 422
            [error] = [e for e in refused.json()["detail"] if e["field"] == "occupations.0.occupation_code"]
            assert why in error["reason"]


async def test_an_occupation_published_later_is_added_by_the_province_and_may_be_applied_for(
    registry: ServiceBus,
) -> None:
    code, name = "4-04-05-09", "数字孪生应用技术员"
    new = {"code": code, "name": name, "levels": [5, 4, 3], "source": "人社部2024年新职业公告"}
    official = registry.token("province_official")
    async with registry.http() as client:
        refused = await client.post("/applications", json=applying_for(code, name, 63), headers=official)
        assert refused.status_code == 422  # not in the catalogue yet
        assert (await client.post("/occupations", json=new, headers=registry.token("city_official"))).status_code == 403
        added = await client.post("/occupations", json=new, headers=official)
        assert added.status_code == 201 and added.json()["recognisable"] is True
        assert (await client.post("/occupations", json=new, headers=official)).status_code == 409
        bad = await client.post("/occupations", json={**new, "code": "4-4-5-9", "source": ""}, headers=official)
        assert bad.status_code == 422 and {e["field"] for e in bad.json()["detail"]} == {"code", "source"}
        accepted = await client.post("/applications", json=applying_for(code, name, 64), headers=official)
        assert accepted.status_code == 201, accepted.text
    [row] = registry.rows(AddedOccupation)
    assert (row.added_by, row.levels) == ("test-province_official", [5, 4, 3])


async def test_the_catalogue_is_browsable_by_name_code_and_category(registry: ServiceBus) -> None:
    async with registry.http() as client:
        page = (await client.get("/occupations", params={"category": "6", "limit": 10})).json()
        assert page["count"] > 600 and len(page["data"]) == 10
        assert all(o["code"].startswith("6-") for o in page["data"])
        by_name = (await client.get("/occupations", params={"q": "汽车维修工"})).json()
        assert [o["code"] for o in by_name["data"]] == ["4-12-01-01"]
        by_code = (await client.get("/occupations", params={"q": "6-18-01"})).json()
        assert by_code["count"] >= 3 and all(o["code"].startswith("6-18-01") for o in by_code["data"])
        welder = (await client.get(f"/occupations/{ACCESS}")).json()
        assert (welder["kind"], welder["recognisable"]) == ("access", False)
        professional = (await client.get(f"/occupations/{PROFESSIONAL}")).json()
        assert (professional["category"], professional["recognisable"]) == ("2", False)
        assert (await client.get("/occupations/9-99-99-99")).status_code == 404
