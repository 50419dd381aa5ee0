"""Who selects an application and who acts on it [L3, L5, L8, L9 附件3; Z五(一); G三(一)], the publicity's dates
[L9], L6(二)'s licence figure as a warning, organizations taken in with their filing codes [L9, L附件6] and scope
changes one work type a row [S附件3 注6]: the registry over HTTP on an adjustable service clock.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col

from infra.walkthrough import approve_change, credit_code, filed_organization, organization_application
from services.registry.models import Organization
from shared.kernel.events import ORGANIZATION_FILED, ORGANIZATION_SCOPE_CHANGED
from shared.kernel.workdays import add_working_days, publicity_end
from shared.platform.outbox import OutboxEvent
from shared.platform.sequences import SequenceCounter
from tests.service import samples
from tests.service.conftest import ServiceBus, running
from tests.service.test_registry_panels import DRAWN, dispatched


@pytest.fixture
async def registry(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    """Zhejiang's registry (its counties accept and pre-review) on an adjustable clock."""
    async with running(
        "registry",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock" / "33.days",
    ) as bus:
        yield bus


def today(registry: ServiceBus) -> date:
    return registry.runtime.clock.today()


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def refused(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)


async def submit(client: httpx.AsyncClient, registry: ServiceBus, number: int, **changes: Any) -> int:
    application = organization_application(registry.runtime.settings.province, number, **changes)
    applicant = registry.token("org_operator", application["credit_code"])
    return int(ok(await client.post("/applications", json=application, headers=applicant), 201)["id"])


async def assessed(
    client: httpx.AsyncClient, registry: ServiceBus, app_id: int, *, by: dict[str, str], number: int = 1
) -> dict[str, Any]:
    """Accepted, pre-reviewed and technically assessed by `by`, with the panel supervision drew."""
    province = registry.runtime.settings.province
    ok(await client.post(f"/applications/{app_id}/accept", headers=by))
    ok(await client.post(f"/applications/{app_id}/preliminary-review", json={"passed": True}, headers=by))
    panel = dispatched(app_id, avoiding=credit_code(province, number))
    await registry.deliver(samples.envelope(panel, province=province))
    return ok(await client.post(f"/applications/{app_id}/technical-assessment", json={"opinions": DRAWN}, headers=by))


async def published(client: httpx.AsyncClient, registry: ServiceBus, app_id: int, *, by: dict[str, str]) -> date:
    """Published today; returns the publicity's last day."""
    body = {"published_on": today(registry).isoformat()}
    return date.fromisoformat(
        ok(await client.post(f"/applications/{app_id}/publicity", json=body, headers=by))["publicity_until"]
    )


def filed_events(registry: ServiceBus) -> list[dict[str, Any]]:
    rows = registry.rows(OutboxEvent, OutboxEvent.event_type == ORGANIZATION_FILED.type, order_by=col(OutboxEvent.seq))
    return [json.loads(row.body)["payload"] for row in rows]


# --- a city's selection [L5, L8, L9 附件3; Z五(一)] ----------------------------------------------------------


async def test_a_city_selects_its_applicants_and_the_province_files_on_its_report(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    hangzhou, ningbo = (
        registry.token("city_official", region="330100"),
        registry.token("city_official", region="330200"),
    )
    county = registry.token("county_official", region="330102")
    async with registry.http() as client:
        app_id = await submit(client, registry, 1, admin_level="city")
        shown = ok(await client.get(f"/applications/{app_id}", headers=province))
        assert (shown["region"], shown["selected_by"], shown["affiliation"]) == ("330100", "330100", "local")

        # Only Hangzhou's officials (and, in Zhejiang, a county's of Hangzhou to accept and pre-review) act on it.
        assert "city's" in refused(await client.post(f"/applications/{app_id}/accept", headers=province), 403)
        assert "330200" in refused(await client.post(f"/applications/{app_id}/accept", headers=ningbo), 403)
        assert "330200" in refused(await client.get(f"/applications/{app_id}", headers=ningbo), 403)
        ok(await client.post(f"/applications/{app_id}/accept", headers=county))
        ok(await client.post(f"/applications/{app_id}/preliminary-review", json={"passed": True}, headers=county))
        await registry.deliver(samples.envelope(dispatched(app_id)))
        assessment = {"opinions": DRAWN}
        path = f"/applications/{app_id}/technical-assessment"
        assert "city's" in refused(await client.post(path, json=assessment, headers=county), 403)
        assert "city's" in refused(await client.post(path, json=assessment, headers=province), 403)
        ok(await client.post(path, json=assessment, headers=hangzhou))
        until = await published(client, registry, app_id, by=hangzhou)

        registry.runtime.clock.move_on((until - today(registry)).days + 1)
        # The province files on the city's report, and only the province.
        assert "report" in refused(await client.post(f"/applications/{app_id}/file", headers=province), 409)
        assert "province" in refused(
            await client.post(f"/applications/{app_id}/selection-report", headers=province), 403
        )
        reported = ok(await client.post(f"/applications/{app_id}/selection-report", headers=hangzhou))
        assert reported["selection_reported_on"] == today(registry).isoformat()
        assert reported["selection_report_due_on"] == add_working_days(until, 10).isoformat()
        assert reported["reported_late"] is False
        assert "province_official" in refused(await client.post(f"/applications/{app_id}/file", headers=hangzhou), 403)
        filed = ok(await client.post(f"/applications/{app_id}/file", headers=province))
        assert filed["filing_code"] == "S000033000001"
        assert [step["actor_role"] for step in filed["trail"]] == [
            "org_operator",
            "county_official",
            "county_official",
            "city_official",
            "city_official",
            "city_official",
            "province_official",
        ]

        # Lists: a city sees the applications it selects; the province all.
        other = await submit(client, registry, 2)  # a province-level body: the province's
        listed = ok(await client.get("/applications", headers=hangzhou))
        assert [a["id"] for a in listed["data"]] == [app_id]
        assert ok(await client.get("/applications", headers=ningbo))["count"] == 0
        assert [a["id"] for a in ok(await client.get("/applications", headers=province))["data"]] == [app_id, other]
        assert "province" in refused(await client.post(f"/applications/{other}/accept", headers=hangzhou), 403)
    [event] = filed_events(registry)
    assert (event["region"], event["selected_by"], event["contact"]) == ("330100", "330100", "李明")


async def test_a_late_city_report_is_accepted_and_flagged(registry: ServiceBus) -> None:
    province, hangzhou = registry.token("province_official"), registry.token("city_official", region="330100")
    async with registry.http() as client:
        app_id = await submit(client, registry, 1, admin_level="city")
        await assessed(client, registry, app_id, by=hangzhou)
        until = await published(client, registry, app_id, by=hangzhou)
        due = add_working_days(until, 10)
        registry.runtime.clock.move_on((due - today(registry)).days + 1)
        reported = ok(await client.post(f"/applications/{app_id}/selection-report", headers=hangzhou))
        assert (reported["reported_late"], reported["selection_report_due_on"]) == (True, due.isoformat())
        assert "late: due" in reported["trail"][-1]["reason"]
        again = await client.post(f"/applications/{app_id}/selection-report", headers=hangzhou)
        assert "reported" in refused(again, 409)
        assert ok(await client.post(f"/applications/{app_id}/file", headers=province))["status"] == "filed"


async def test_the_province_does_every_step_of_its_own_selection_without_a_report(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        app_id = await submit(client, registry, 1)
        await assessed(client, registry, app_id, by=province)
        until = await published(client, registry, app_id, by=province)
        registry.runtime.clock.move_on((until - today(registry)).days + 1)
        report = await client.post(f"/applications/{app_id}/selection-report", headers=province)
        assert "no city report" in refused(report, 409)
        assert ok(await client.post(f"/applications/{app_id}/file", headers=province))["status"] == "filed"


async def test_a_credit_code_registered_in_another_province_changes_nothing(registry: ServiceBus) -> None:
    application = organization_application("33", 1, credit_code=credit_code("21", 1), examiners=0)
    async with registry.http() as client:
        response = await client.post("/applications", json=application, headers=registry.token("province_official"))
    assert "210100" in refused(response, 422)
    assert {e["field"] for e in response.json()["detail"]} == {"credit_code", "examiners"}
    assert registry.count(Organization) == 0


# --- the publicity's dates [L9] ---------------------------------------------------------------------------


async def test_a_publicity_is_neither_in_the_past_nor_before_the_assessment_it_publishes(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        app_id = await submit(client, registry, 1)
        await assessed(client, registry, app_id, by=province)
        path = f"/applications/{app_id}/publicity"
        yesterday = {"published_on": (today(registry) - timedelta(days=1)).isoformat()}
        assert "in the past" in refused(await client.post(path, json=yesterday, headers=province), 422)
        with registry.unit() as unit:
            organization = unit.session.get(Organization, app_id)
            assert organization is not None
            organization.technically_assessed_on = today(registry) + timedelta(days=3)
            unit.session.add(organization)
        early = {"published_on": (today(registry) + timedelta(days=1)).isoformat()}
        assert "before the assessment" in refused(await client.post(path, json=early, headers=province), 422)
        assert ok(await client.get(f"/applications/{app_id}", headers=province))["status"] == "technically_assessed"
        on = today(registry) + timedelta(days=3)
        shown = ok(await client.post(path, json={"published_on": on.isoformat()}, headers=province))
        assert shown["publicity_until"] == publicity_end(on, 5).isoformat()


# --- L6(二): the licence figure warns the assessor ----------------------------------------------------------


async def test_liaoning_licence_short_of_its_figure_passes_the_assessment_only_with_reasons(
    tmp_path: Path, topic_root: str
) -> None:
    few = [
        {**item, "person_times": 300}
        for item in organization_application("21")["occupations"]  # 600 person-times in all
    ]
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root, province="21") as registry:
        province = registry.token("province_official")
        async with registry.http() as client:
            app_id = await submit(client, registry, 1, basis="licence", licence_number="辽鉴2019-01", occupations=few)
            shown = ok(await client.get(f"/applications/{app_id}", headers=province))
            assert "600" in shown["licence_warning"] and "2000" in shown["licence_warning"]
            ok(await client.post(f"/applications/{app_id}/accept", headers=province))
            ok(await client.post(f"/applications/{app_id}/preliminary-review", json={"passed": True}, headers=province))
            await registry.deliver(samples.envelope(dispatched(app_id, avoiding=credit_code("21", 1)), province="21"))
            path = f"/applications/{app_id}/technical-assessment"
            reason = refused(await client.post(path, json={"opinions": DRAWN}, headers=province), 422)
            assert "override_reasons" in reason and "2000" in reason and "L6(二)" in reason
            because = "该机构为行业龙头, 专家组认可其影响力"
            passed = ok(
                await client.post(path, json={"opinions": DRAWN, "override_reasons": because}, headers=province)
            )
            assert (passed["status"], passed["licence_override"]) == ("technically_assessed", because)


# --- organizations filed before the system, or by the ministry [L9, L附件6] ---------------------------------


async def test_an_organization_filed_before_keeps_its_code_and_validity_and_the_sequence_moves_past_it(
    registry: ServiceBus,
) -> None:
    province = registry.token("province_official")
    earlier = filed_organization("33", 1, code="S000033000120", today=date(2024, 3, 1))
    async with registry.http() as client:
        taken = ok(await client.post("/organizations", json=earlier, headers=province), 201)
        assert (taken["filing_code"], taken["filed_on"], taken["valid_until"]) == (
            "S000033000120",
            "2024-03-01",
            "2027-03-01",
        )
        same = filed_organization("33", 2, code="S000033000120")
        assert "already used" in refused(await client.post("/organizations", json=same, headers=province), 422)
        elsewhere = filed_organization("33", 3, code="S000021000005")
        assert "positions 6-7" in refused(await client.post("/organizations", json=elsewhere, headers=province), 422)
        national = filed_organization("33", 4, code="S000733000004")
        assert ok(await client.post("/organizations", json=national, headers=province), 201)["filing_code"] == (
            "S000733000004"
        )
        [counter] = registry.rows(SequenceCounter, SequenceCounter.name == "filing:33")
        assert counter.value == 120  # a ministry's code leaves the province's sequence alone

        app_id = await submit(client, registry, 5)
        await assessed(client, registry, app_id, by=province, number=5)
        until = await published(client, registry, app_id, by=province)
        registry.runtime.clock.move_on((until - today(registry)).days + 1)
        filed = ok(await client.post(f"/applications/{app_id}/file", headers=province))
        assert filed["filing_code"] == "S000033000121"


# --- the scope, one work type a row [S附件3 注6] ---------------------------------------------------------------


def car(work_type: str, levels: list[int]) -> dict[str, Any]:
    return {
        "occupation_code": "4-12-01-01",
        "occupation_name": "汽车维修工",
        "work_type": work_type,
        "levels": levels,
        "standard": "汽车维修工国家职业技能标准",
        "person_times": 800,
    }


async def test_an_approved_scope_change_keeps_every_work_type(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    lathe = organization_application("33")["occupations"][0]
    organization = filed_organization(
        "33",
        1,
        occupations=[lathe, car("汽车机械维修工", [5, 4]), car("汽车电器维修工", [5])],
        main_business_occupations=["6-18-01-01", "4-12-01-01"],
    )
    async with registry.http() as client:
        code = ok(await client.post("/organizations", json=organization, headers=province), 201)["filing_code"]
        operator = registry.token("org_operator", code)
        change = {
            "add": [car("汽车车身涂装修复工", [5, 4])],
            "modify": [car("汽车电器维修工", [5, 4])],
            "delete": [{"occupation_code": "4-12-01-01", "work_type": "汽车机械维修工"}],
        }
        change_id = ok(await client.post(f"/organizations/{code}/scope-changes", json=change, headers=operator), 201)[
            "id"
        ]
        await approve_change(client, code, change_id, selector=province, official=province)
        entry = ok(await client.get(f"/organizations/{code}"))
    rows = [(o["occupation_code"], o["work_type"], len(o["levels"])) for o in entry["occupations"]]
    assert sorted(rows, key=str) == sorted(
        [("6-18-01-01", None, 3), ("4-12-01-01", "汽车电器维修工", 2), ("4-12-01-01", "汽车车身涂装修复工", 2)], key=str
    )
    [event] = registry.rows(OutboxEvent, OutboxEvent.event_type == ORGANIZATION_SCOPE_CHANGED.type)
    assert "汽车电器维修工" in event.body and "汽车车身涂装修复工" in event.body
    assert "汽车机械维修工" not in event.body
