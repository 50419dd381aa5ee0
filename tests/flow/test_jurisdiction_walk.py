"""A province with cities, walked over the real broker: a city selects a training institution and reports it
late, the province files it, another city's official is refused; an organization filed before the system is
taken in with its old code, its scope change keeps every work type, an upheld objection to its results is
corrected and published again, and its certificates print the filed work type and verify under the old code."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from infra.walkthrough import (
    approve_change,
    batch_plan,
    eventually,
    expect,
    filed_organization,
    filed_site,
    move_clock,
    organization_application,
    passing_scores,
    service_today,
)
from shared.kernel.workdays import add_working_days
from tests.flow.test_registry_flow import dispatch_panel, opinions
from tests.harness import Environment, province_services, query_app, serve

pytestmark = pytest.mark.kafka

PROVINCE = "33"
HANGZHOU, NINGBO = "330100", "330200"
OLD_CODE = "S000033000500"  # filed on paper before the system, its certificates already out
REPAIR = "4-12-01-01"  # 汽车维修工, whose work types are separate scope rows (S附件3 note 6)


def training_institution(number: int) -> dict[str, Any]:
    """A private training institution of 杭州市 (credit code registered in 330100): the city selects it [L5]."""
    application = organization_application(PROVINCE, number, kind="training_institution", admin_level=None)
    application["name"] = f"杭州市技能培训学校{number}号"
    application.pop("main_business_occupations", None)
    return application


async def test_a_city_selects_reports_late_and_the_province_files(env: Environment, token: Any) -> None:
    official, city = token(PROVINCE, "province_official"), token(PROVINCE, "city_official", region=HANGZHOU)
    other_city = token(PROVINCE, "city_official", region=NINGBO)
    application = training_institution(31)
    applicant = token(PROVINCE, "org_operator", application["credit_code"])
    async with province_services(env, PROVINCE) as clients:
        registry = clients.registry
        submitted = expect(await registry.post("/applications", json=application, headers=applicant), 201)
        at = f"/applications/{submitted['id']}"
        assert submitted["selected_by"] == HANGZHOU
        refused = await registry.post(f"{at}/accept", headers=other_city)
        assert refused.status_code == 403 and HANGZHOU in refused.json()["detail"]
        assert (await registry.get(at, headers=other_city)).status_code == 403
        assert (await registry.post(f"{at}/accept", headers=official)).status_code == 403  # the city's step

        expect(await registry.post(f"{at}/accept", headers=city), 200)
        expect(await registry.post(f"{at}/preliminary-review", json={"passed": True}, headers=city), 200)
        await dispatch_panel(env, registry, PROVINCE, submitted["id"], official)
        expect(
            await registry.post(f"{at}/technical-assessment", json={"opinions": opinions(PROVINCE)}, headers=city), 200
        )
        today = await service_today(registry)
        stale = await registry.post(
            f"{at}/publicity", json={"published_on": (today - timedelta(days=1)).isoformat()}, headers=city
        )
        assert stale.status_code == 422  # never dated in the past
        published = expect(
            await registry.post(f"{at}/publicity", json={"published_on": today.isoformat()}, headers=city), 200
        )
        until = date.fromisoformat(published["publicity_until"])
        # The city reports 15 working days after the publicity's end: past the policy's 10 [L9 附件3].
        await move_clock(registry, add_working_days(until, 15), official)
        reported = expect(await registry.post(f"{at}/selection-report", headers=city), 200)
        assert reported["reported_late"] is True
        assert (await registry.post(f"{at}/file", headers=city)).status_code == 403  # the province files
        filed = expect(await registry.post(f"{at}/file", headers=official), 200)
        assert filed["status"] == "filed" and filed["filing_code"].startswith("S000033")
        assert [step["action"] for step in filed["trail"]][-2:] == ["report_selection", "file"]

        # The city's testing department approves the institution's batch plans, not the province's [L20].
        code = filed["filing_code"]
        operator = token(PROVINCE, "org_operator", code)
        today = await service_today(clients.recognition)
        plan = batch_plan(code, PROVINCE, 2, level=4, today=today, site=filed_site(application))

        async def planned() -> dict[str, Any] | None:
            response = await clients.recognition.post("/batches", json=plan, headers=operator)
            return None if response.status_code == 422 else expect(response, 201)

        batch = await eventually(planned, what=f"recognition accepts a batch of {code}")
        expect(await clients.recognition.post(f"/batches/{batch['id']}/submit", headers=operator), 200)
        province_department = token(PROVINCE, "testing_department")
        decision = await clients.recognition.post(
            f"/batches/{batch['id']}/plan-decision", json={"approve": True}, headers=province_department
        )
        assert decision.status_code == 403 and HANGZHOU in decision.json()["detail"]
        city_department = token(PROVINCE, "testing_department", region=HANGZHOU)
        approved = expect(
            await clients.recognition.post(
                f"/batches/{batch['id']}/plan-decision", json={"approve": True}, headers=city_department
            ),
            200,
        )
        assert approved["status"] == "plan_approved"


async def test_an_organization_filed_before_keeps_its_code_and_work_types_and_its_certificates_verify(
    env: Environment, token: Any
) -> None:
    official, department = token(PROVINCE, "province_official"), token(PROVINCE, "testing_department")
    async with (
        serve(query_app(env)) as query,
        province_services(env, PROVINCE, query=query) as clients,
    ):
        registry, recognition = clients.registry, clients.recognition
        today = await service_today(registry)
        filed_on = today - timedelta(days=700)
        old = filed_organization(PROVINCE, 500, today=filed_on, code=OLD_CODE)
        old["occupations"] = [
            {
                "occupation_code": REPAIR,
                "occupation_name": "汽车维修工",
                "work_type": "汽车机械维修工",
                "levels": [5, 4, 3],
                "standard": "汽车维修工国家职业技能标准(2018年版)",
                "person_times": 3000,
            }
        ]
        old["main_business_occupations"] = [REPAIR]
        taken_in = expect(await registry.post("/organizations", json=old, headers=official), 201)
        assert (taken_in["filing_code"], taken_in["filed_on"]) == (OLD_CODE, filed_on.isoformat())

        await change_scope(registry, OLD_CODE, token)
        scope = expect(await registry.get(f"/organizations/{OLD_CODE}"), 200)["occupations"]
        assert sorted(row["work_type"] for row in scope if row["occupation_code"] == REPAIR) == [
            "汽车机械维修工",
            "汽车电器维修工",
        ]

        operator = token(PROVINCE, "org_operator", OLD_CODE)
        today = await service_today(recognition)  # the scope change's publicity moved the province's clock on

        def plan(work_type: str) -> dict[str, Any]:
            return batch_plan(
                OLD_CODE,
                PROVINCE,
                3,
                level=4,
                today=today,
                occupation_code=REPAIR,
                occupation_name="高级量子工程师",  # what the operator types is not what is printed
                work_type=work_type,
                site=filed_site(old),
            )

        async def scope_known() -> bool:
            response = await recognition.post("/batches", json=plan("汽车车身涂装修复工"), headers=operator)
            return response.status_code == 422 and any(e["field"] == "work_type" for e in response.json()["detail"])

        await eventually(scope_known, what="recognition refuses a work type the organization is not filed for")

        async def planned() -> dict[str, Any] | None:
            response = await recognition.post("/batches", json=plan("汽车电器维修工"), headers=operator)
            return None if response.status_code == 422 else expect(response, 201)

        batch = await eventually(planned, what="recognition has the changed scope")
        assert (batch["occupation_name"], batch["work_type"]) == ("汽车维修工", "汽车电器维修工")
        at = f"/batches/{batch['id']}"
        expect(await recognition.post(f"{at}/submit", headers=operator), 200)
        expect(await recognition.post(f"{at}/plan-decision", json={"approve": True}, headers=department), 200)
        await move_clock(recognition, date.fromisoformat(batch["exam_ends_on"]), official)
        people = expect(await recognition.get(f"{at}/candidates", headers=operator), 200)["data"]
        scores = passing_scores(people, 4)
        scores["results"][2] |= {"theory": 52.0}  # one candidate fails on theory
        expect(await recognition.post(f"{at}/results", json=scores, headers=operator), 200)
        first_round = await service_today(recognition)
        expect(
            await recognition.post(
                f"{at}/results-publicity", json={"published_on": first_round.isoformat()}, headers=operator
            ),
            200,
        )
        objection = expect(
            await recognition.post(
                f"{at}/objections",
                headers=operator,
                json={
                    "raised_on": first_round.isoformat(),
                    "raised_by": people[2]["name"],
                    "content": "理论成绩登录有误",
                    "candidate_id": people[2]["id"],
                },
            ),
            201,
        )
        expect(
            await recognition.post(
                f"{at}/objections/{objection['id']}/resolve",
                json={"upheld": True, "resolution": "复核为78分"},
                headers=department,
            ),
            200,
        )
        assert (await recognition.post(f"{at}/report", headers=operator)).status_code == 409  # stuck no more, but
        corrected = {"results": [{"candidate_id": people[2]["id"], "theory": 78.0, "skill": 78.5}]}
        expect(await recognition.post(f"{at}/results", json=corrected, headers=operator), 200)
        second_round = await service_today(recognition)
        republished = expect(
            await recognition.post(
                f"{at}/results-publicity", json={"published_on": second_round.isoformat()}, headers=operator
            ),
            200,
        )
        assert republished["results_round"] == 2
        await move_clock(
            recognition, date.fromisoformat(republished["results_publicity_until"]) + timedelta(days=1), official
        )
        expect(await recognition.post(f"{at}/report", headers=operator), 200)
        expect(await recognition.post(f"{at}/review", json={"approve": True}, headers=department), 200)
        expect(await recognition.post(f"{at}/approve", headers=official), 200)

        async def issued() -> list[dict[str, Any]] | None:
            response = await clients.certificates.get(
                "/certificates", params={"batch_id": batch["id"]}, headers=official
            )
            data = expect(response, 200)["data"]
            return data if len(data) == 3 else None

        certificates = await eventually(issued, what="a certificate for each of the three who passed")
        assert {c["work_type"] for c in certificates} == {"汽车电器维修工"}
        assert all(c["number"].startswith(OLD_CODE) for c in certificates)

        async def verified() -> dict[str, Any] | None:
            response = await query.get(f"/certificates/{certificates[0]['number']}")
            view = response.json() if response.status_code == 200 else None
            return view if view and view["verification"]["verified"] else None

        view = await eventually(verified, what="the shared lookup verifies a certificate under the old code")
        assert (view["organization_code"], view["work_type"], view["occupation_name"]) == (
            OLD_CODE,
            "汽车电器维修工",
            "汽车维修工",
        )
        catalogue = expect(await query.get("/organizations", params={"q": OLD_CODE}), 200)["data"]
        assert [entry["filed_on"] for entry in catalogue] == [filed_on.isoformat()]


async def change_scope(registry: httpx.AsyncClient, code: str, token: Any) -> None:
    """Adds the work type 汽车电器维修工 to the organization's 汽车维修工 (L11: through the policy's steps)."""
    official = token(PROVINCE, "province_official")
    change = expect(
        await registry.post(
            f"/organizations/{code}/scope-changes",
            headers=token(PROVINCE, "org_operator", code),
            json={
                "add": [
                    {
                        "occupation_code": REPAIR,
                        "occupation_name": "汽车维修工",
                        "work_type": "汽车电器维修工",
                        "levels": [5, 4],
                        "standard": "汽车维修工国家职业技能标准(2018年版)",
                        "person_times": 800,
                    }
                ]
            },
        ),
        201,
    )
    await approve_change(registry, code, change["id"], selector=official, official=official)
