"""The registry workflow over HTTP and the real broker, for provinces with different policies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.walkthrough import (
    approve_change,
    batch_plan,
    eventually,
    expect,
    filed_organization,
    filed_site,
    move_clock,
    organization_application,
    service_today,
)
from services.recognition.app import create as create_recognition
from services.recognition.settings import RecognitionSettings
from services.registry.app import create as create_registry
from services.registry.settings import RegistrySettings
from shared.kernel.clock import Clock
from shared.kernel.events import (
    EXPERTS_DISPATCHED,
    SANCTION_IMPOSED,
    DispatchedExpert,
    ExpertsDispatched,
    SanctionImposed,
)
from shared.kernel.workdays import add_years, publicity_end
from tests.harness import Environment, serve

pytestmark = pytest.mark.kafka

PANEL = (("E000001", "张专家"), ("E000002", "李专家"), ("E000003", "王专家"))
KINDS = ("material_check", "argument", "on_site")


def opinions(province: str) -> list[dict[str, Any]]:
    """One opinion of each kind, by the experts of the panel `dispatch_panel` sends."""
    return [{"expert": f"{province}-{e}", "kind": k, "passed": True} for (e, _), k in zip(PANEL, KINDS, strict=True)]


async def dispatch_panel(
    env: Environment, registry: httpx.AsyncClient, province: str, application_id: int, official: dict[str, str]
) -> None:
    application = expect(await registry.get(f"/applications/{application_id}", headers=official), 200)
    """Supervision's drawn panel for the application's technical assessment [L8], as its event, and waits until
    the registry has it: the assessment takes only drawn experts (tests/flow/test_supervision_flow.py draws
    one for real)."""
    subject = f"application-{application_id}"
    panel = EXPERTS_DISPATCHED.make(
        province=province,
        subject=subject,
        payload=ExpertsDispatched(
            plan_id=f"{province}-P000001",
            purpose="technical_assessment",
            subject=subject,
            organization_code=application["credit_code"],
            experts=[DispatchedExpert(expert_id=f"{province}-{e}", name=n, province=province) for e, n in PANEL],
        ),
    )
    producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            EXPERTS_DISPATCHED.topic(province, env.topic_root), panel.model_dump_json().encode(), key=subject.encode()
        )
    finally:
        await producer.stop()

    async def received() -> bool:
        response = await registry.get(f"/applications/{application_id}", headers=official)
        return response.status_code == 200 and len(response.json()["panel"]) == len(PANEL)

    await eventually(received, what=f"the registry receives the panel of application {application_id}")


def registry_app(env: Environment, province: str):  # type: ignore[no-untyped-def]
    return create_registry(RegistrySettings(**env.common(province), database_url=env.database_url(f"reg{province}")))


async def test_application_through_review_and_publicity_to_the_catalogue(env: Environment, token: Any) -> None:
    province = "33"
    application = organization_application(province, 5, admin_level="city")  # the city (330100) selects it [L5]
    applicant = token(province, "org_operator", application["credit_code"])
    city, official = token(province, "city_official"), token(province, "province_official")
    async with serve(registry_app(env, province)) as registry:
        submitted = expect(await registry.post("/applications", json=application, headers=applicant), 201)
        app_id = submitted["id"]
        assert submitted["status"] == "submitted"
        assert date.fromisoformat(submitted["acceptance_due_on"]) > date.fromisoformat(submitted["submitted_on"])
        # Steps out of order are refused with the reason, and change nothing.
        early = await registry.post(f"/applications/{app_id}/file", headers=official)
        assert early.status_code == 409
        assert "in_publicity" in early.json()["detail"]
        # Only officials act on an application; the province does none of the city's steps.
        assert (await registry.post(f"/applications/{app_id}/accept", headers=official)).status_code == 403
        assert (await registry.post(f"/applications/{app_id}/accept", headers=applicant)).status_code == 403

        expect(await registry.post(f"/applications/{app_id}/accept", headers=city), 200)
        expect(
            await registry.post(f"/applications/{app_id}/preliminary-review", json={"passed": True}, headers=city), 200
        )
        await dispatch_panel(env, registry, province, app_id, official)
        partial = await registry.post(
            f"/applications/{app_id}/technical-assessment", json={"opinions": opinions(province)[:2]}, headers=city
        )
        assert partial.status_code == 422
        assert "on_site" in partial.json()["detail"][0]["reason"]
        assessed = expect(
            await registry.post(
                f"/applications/{app_id}/technical-assessment", json={"opinions": opinions(province)}, headers=city
            ),
            200,
        )
        assert all(o["drawn"] for o in assessed["opinions"])

        # Published on the service's date (never in the past): five working days of the official calendar
        # (tests/unit/test_registry_rules.py::test_working_days_follow_the_official_calendar).
        published_on = await service_today(registry)
        publicity = expect(
            await registry.post(
                f"/applications/{app_id}/publicity", json={"published_on": published_on.isoformat()}, headers=city
            ),
            200,
        )
        assert publicity["status"] == "in_publicity"
        until = date.fromisoformat(publicity["publicity_until"])
        assert until == publicity_end(published_on, 5)
        outside = await registry.post(
            f"/applications/{app_id}/objections",
            headers=city,
            json={"raised_on": (until + timedelta(days=1)).isoformat(), "raised_by": "市民", "content": "场地不符"},
        )
        assert outside.status_code == 422
        objection = expect(
            await registry.post(
                f"/applications/{app_id}/objections",
                headers=city,
                json={"raised_on": published_on.isoformat(), "raised_by": "市民甲", "content": "考评员人数不实"},
            ),
            201,
        )
        await move_clock(registry, until + timedelta(days=1), official)
        pending = await registry.post(f"/applications/{app_id}/file", headers=official)
        assert pending.status_code == 409
        assert "not resolved" in pending.json()["detail"]
        expect(
            await registry.post(
                f"/applications/{app_id}/objections/{objection['id']}/resolve",
                headers=city,
                json={"upheld": False, "resolution": "经核实考评员名单属实"},
            ),
            200,
        )
        unreported = await registry.post(f"/applications/{app_id}/file", headers=official)
        assert unreported.status_code == 409
        assert "report" in unreported.json()["detail"]
        expect(await registry.post(f"/applications/{app_id}/selection-report", headers=city), 200)
        filed = expect(await registry.post(f"/applications/{app_id}/file", headers=official), 200)

        assert filed["status"] == "filed"
        assert filed["filing_code"] == "S000033000001"
        assert filed["valid_until"] == add_years(date.fromisoformat(filed["filed_on"]), 3).isoformat()
        assert [step["action"] for step in filed["trail"]] == [
            "submit",
            "accept",
            "pass_preliminary_review",
            "pass_technical_assessment",
            "publish",
            "report_selection",
            "file",
        ]
        assert {step["actor_role"] for step in filed["trail"]} == {"org_operator", "city_official", "province_official"}
        entry = expect(await registry.get(f"/organizations/{filed['filing_code']}"), 200)
        assert entry["occupations"][0]["levels"] == ["三级/高级工", "四级/中级工", "五级/初级工"]
        found = expect(
            await registry.get(
                "/organizations", params={"occupation_code": "6-18-01-01", "level": 3, "city": "杭州市"}
            ),
            200,
        )
        assert [o["filing_code"] for o in found["data"]] == ["S000033000001"]
        assert expect(await registry.get("/organizations", params={"level": 1}), 200)["count"] == 0
        # Renewal opens only in the window before expiry.
        renew = await registry.post(f"/organizations/{filed['filing_code']}/renew", headers=official)
        assert renew.status_code == 409
        assert "renewal opens" in renew.json()["detail"]


async def test_rejected_assessment_ends_the_application(env: Environment, token: Any) -> None:
    official, city = token("33", "province_official"), token("33", "city_official")
    async with serve(registry_app(env, "33")) as registry:
        app_id = expect(
            await registry.post(
                "/applications", json=organization_application("33", 6, admin_level="city"), headers=official
            ),
            201,
        )["id"]
        expect(await registry.post(f"/applications/{app_id}/accept", headers=city), 200)
        refused = await registry.post(
            f"/applications/{app_id}/preliminary-review", json={"passed": False}, headers=city
        )
        assert refused.status_code == 422  # a refusal needs its reason
        expect(
            await registry.post(
                f"/applications/{app_id}/preliminary-review",
                headers=city,
                json={"passed": False, "reason": "场地证明缺失"},
            ),
            200,
        )
        final = expect(await registry.get(f"/applications/{app_id}", headers=official), 200)
        assert final["status"] == "rejected"
        assert final["trail"][-1]["reason"] == "场地证明缺失"
        assert (await registry.post(f"/applications/{app_id}/accept", headers=city)).status_code == 409


async def review_and_file(
    env: Environment,
    registry: httpx.AsyncClient,
    province: str,
    application_id: int,
    *,
    city: dict[str, str],
    official: dict[str, str],
) -> dict[str, Any]:
    """Takes a submitted application through every step to filing, with no objection: the selecting division's
    officials (`city` for a city's selection, else the province's) to the publicity's end and the city's report,
    the province files [L5, L9]; the province's clock moves over the publicity."""
    at = f"/applications/{application_id}"
    city_selected = expect(await registry.get(at, headers=official), 200)["selected_by"] != f"{province}0000"
    selector = city if city_selected else official
    expect(await registry.post(f"{at}/accept", headers=selector), 200)
    expect(await registry.post(f"{at}/preliminary-review", json={"passed": True}, headers=selector), 200)
    await dispatch_panel(env, registry, province, application_id, official)
    assessment = {"opinions": opinions(province)}
    expect(await registry.post(f"{at}/technical-assessment", json=assessment, headers=selector), 200)
    published_on = (await service_today(registry)).isoformat()
    publicity = expect(
        await registry.post(f"{at}/publicity", json={"published_on": published_on}, headers=selector), 200
    )
    await move_clock(registry, date.fromisoformat(publicity["publicity_until"]) + timedelta(days=1), official)
    if city_selected:
        expect(await registry.post(f"{at}/selection-report", headers=city), 200)
    return expect(await registry.post(f"{at}/file", headers=official), 200)


def recognition_app(env: Environment, province: str):  # type: ignore[no-untyped-def]
    return create_recognition(
        RecognitionSettings(**env.common(province), database_url=env.database_url(f"rec{province}"))
    )


async def test_guangxi_city_scope_is_refused_level_2_and_zhejiang_employer_files_special_technician(
    env: Environment, token: Any
) -> None:
    """Two provinces, two policies, the whole workflow over HTTP, and each filing reaching its province's
    recognition service over Kafka."""
    lathe = {
        "occupation_code": "6-18-01-01",
        "occupation_name": "车工",
        "standard": "车工国家职业技能标准",
        "person_times": 6000,
    }
    city_scope = organization_application(
        "45", 1, evaluation_scope="city", years_of_evaluation=4, occupations=[{**lathe, "levels": [3, 2]}]
    )
    special = organization_application(
        "33",
        7,
        kind="enterprise",
        admin_level=None,
        self_evaluation_scope=["6-18-01-01"],
        occupations=[{**lathe, "levels": [3, 2, 1, 0], "standard": "企业技能人才评价规范(车工)"}],
    )
    async with (
        serve(registry_app(env, "45")) as guangxi,
        serve(registry_app(env, "33")) as zhejiang,
        serve(recognition_app(env, "45")) as guangxi_recognition,
        serve(recognition_app(env, "33")) as zhejiang_recognition,
    ):
        applicant = token("45", "org_operator", city_scope["credit_code"])
        refused = await guangxi.post("/applications", json=city_scope, headers=applicant)
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["detail"]] == ["occupations.0.levels"]
        assert "city scope covers level 3 and below" in refused.json()["detail"][0]["reason"]
        assert (await guangxi.get("/applications/1", headers=token("45", "province_official"))).status_code == 404

        city_scope["occupations"][0]["levels"] = [5, 4, 3]
        submitted = expect(await guangxi.post("/applications", json=city_scope, headers=applicant), 201)
        guangxi_filed = await review_and_file(
            env,
            guangxi,
            "45",
            submitted["id"],
            city=token("45", "city_official"),
            official=token("45", "province_official"),
        )
        assert guangxi_filed["filing_code"] == "S000045000001"

        submitted = expect(
            await zhejiang.post(
                "/applications", json=special, headers=token("33", "org_operator", special["credit_code"])
            ),
            201,
        )
        zhejiang_filed = await review_and_file(
            env,
            zhejiang,
            "33",
            submitted["id"],
            city=token("33", "city_official"),
            official=token("33", "province_official"),
        )
        assert zhejiang_filed["filing_code"] == "Y000033000001"
        entry = expect(await zhejiang.get("/organizations/Y000033000001"), 200)
        assert "特级技师" in entry["occupations"][0]["levels"]

        # Each province's recognition learns of its own filing only, and applies that policy's scope.
        sites = {"S000045000001": filed_site(city_scope), "Y000033000001": filed_site(special)}

        async def plan(recognition: httpx.AsyncClient, code: str, province: str, level: int) -> int:
            today = await service_today(recognition)
            plan = batch_plan(code, province, level=level, today=today, site=sites[code])
            response = await recognition.post("/batches", json=plan, headers=token(province, "org_operator", code))
            return response.status_code

        async def guangxi_level_3_accepted() -> bool:
            return await plan(guangxi_recognition, "S000045000001", "45", 3) == 201

        await eventually(guangxi_level_3_accepted, what="Guangxi recognition learns of its filing")
        assert await plan(guangxi_recognition, "S000045000001", "45", 2) == 422

        async def zhejiang_level_1_accepted() -> bool:
            return await plan(zhejiang_recognition, "Y000033000001", "33", 1) == 201

        await eventually(zhejiang_level_1_accepted, what="Zhejiang recognition learns of its filing")
        assert await plan(zhejiang_recognition, "S000045000001", "33", 3) == 422


async def test_sanctions_and_scope_changes_reach_recognition(env: Environment, token: Any) -> None:
    province = "33"
    official = token(province, "province_official")
    async with serve(registry_app(env, province)) as registry, serve(recognition_app(env, province)) as recognition:
        code = expect(
            await registry.post(
                "/organizations",
                json=filed_organization(province, 8, today=await service_today(registry)),
                headers=official,
            ),
            201,
        )["filing_code"]
        operator = token(province, "org_operator", code)

        async def plan_status(plan: dict[str, Any]) -> httpx.Response:
            return await recognition.post("/batches", json=plan, headers=operator)

        async def accepted() -> bool:
            return (await plan_status(batch_plan(code, province))).status_code == 201

        await eventually(accepted, what="recognition learns of the filing")

        # Scope change: adding 中式面点师 beyond the authority is refused; within it, approved.
        pastry = {
            "occupation_code": "4-03-02-02",
            "occupation_name": "中式面点师",
            "standard": "标准",
            "person_times": 800,
        }
        too_high = await registry.post(
            f"/organizations/{code}/scope-changes", headers=operator, json={"add": [{**pastry, "levels": [5, 4]}]}
        )
        assert too_high.status_code == 422  # not the industry organization's main business
        assert too_high.json()["detail"][0]["field"] == "scope.2.occupation_code"
        change = expect(
            await registry.post(
                f"/organizations/{code}/scope-changes",
                headers=operator,
                json={
                    "delete": ["4-03-02-01"],
                    "modify": [
                        {
                            "occupation_code": "6-18-01-01",
                            "occupation_name": "车工",
                            "levels": [5, 4, 3, 2],
                            "standard": "车工标准",
                            "person_times": 1500,
                        }
                    ],
                },
            ),
            201,
        )
        # A scope change is accepted, assessed and published before the province approves it [L11].
        premature = await registry.post(f"/organizations/{code}/changes/{change['id']}/approve", headers=official)
        assert premature.status_code == 409 and "acceptance" in premature.json()["detail"]
        await approve_change(registry, code, change["id"], selector=official, official=official)
        level_2 = {**batch_plan(code, province), "level": 2}

        async def level_2_accepted() -> bool:
            return (await plan_status(level_2)).status_code == 201

        await eventually(level_2_accepted, what="recognition applies the scope change")

        # Supervision suspends the organization by event: the registry suspends, recognition refuses.
        producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
        await producer.start()
        try:
            sanction = SANCTION_IMPOSED.make(
                province=province,
                subject=code,
                payload=SanctionImposed(
                    filing_code=code, measure="suspension", reason="考务记录缺失", decided_on=Clock().today()
                ),
            )
            await producer.send_and_wait(
                SANCTION_IMPOSED.topic(province, env.topic_root), sanction.model_dump_json().encode(), key=code.encode()
            )
        finally:
            await producer.stop()

        async def refused_while_suspended() -> bool:
            response = await plan_status(batch_plan(code, province))
            return response.status_code == 422 and "suspended" in response.json()["detail"][0]["reason"]

        await eventually(refused_while_suspended, what="recognition refuses a suspended organization")
        entry = expect(await registry.get(f"/organizations/{code}"), 200)
        assert entry["status"] == "suspended"
        expect(
            await registry.post(f"/organizations/{code}/revoke", headers=official, json={"reason": "整改不到位"}), 200
        )
        assert (await registry.get(f"/organizations/{code}")).status_code == 404  # removed from the catalogue
