"""Supervision over HTTP and the real broker: experts registered, a batch plan approved in recognition joins
the population, a plan is published and drawn from a public value with a tied inspector excluded, the
offline verifier confirms the draw from the published documents, an inspection with two findings is signed
and sealed and appears on the batch in recognition, an alert fires on a planted anomaly (a batch larger
than its site), and the public query service shows the plan, the draw and the result. Then part 2: the finding
opens a case, a rectification's deadline passes on the training clock, suspension is decided and the registry and
recognition follow it, the verified rectification lifts it, a complaint through the public query service is upheld
with a credit entry, and the year's rating falls, shows in both catalogues and weighs the next draw."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.walkthrough import (
    batch_plan,
    credit_code,
    eventually,
    expect,
    filed_organization,
    move_clock,
    resident_id,
    service_today,
)
from tests.harness import Environment, Relay, province_services, query_app, serve

pytestmark = pytest.mark.kafka
PROVINCE = "33"
PROJECT = str(Path(__file__).resolve().parents[2])  # the verifier runs from a bare directory


def expert(number: int, employer: str) -> dict[str, Any]:
    return {
        "name": f"督导员{number}号",
        "id_type": "居民身份证",
        "id_number": resident_id(PROVINCE, 7000 + number),
        "employer_credit_code": employer,
        "employer_name": f"检验单位{number}",
        "employer_region": "330100",
        "kinds": ["quality_supervisor"],
        "qualifications": [
            {
                "occupation_code": "6-18-01-01",
                "levels": [5, 4, 3],
                "valid_from": "2020-01-01",
                "valid_until": "2040-12-31",
            }
        ],
    }


async def test_a_random_inspection_from_plan_to_the_public_page(env: Environment, token: Any, tmp_path: Path) -> None:
    official = token(PROVINCE, "province_official")
    relay = Relay()
    complaints = {PROVINCE: httpx.AsyncClient(transport=relay, base_url="http://supervision")}
    async with (
        serve(query_app(env, supervision_clients=complaints)) as query,
        province_services(env, PROVINCE, query=query) as zhejiang,
    ):
        relay.target = zhejiang.supervision
        application = filed_organization(PROVINCE, 5, today=await service_today(zhejiang.registry))
        code = expect(await zhejiang.registry.post("/organizations", json=application, headers=official), 201)[
            "filing_code"
        ]
        operator = token(PROVINCE, "org_operator", code)

        # The pool: the first expert works for the organization itself.
        employers = [application["credit_code"], *(credit_code(PROVINCE, 800 + n) for n in range(1, 4))]
        experts = [
            expect(await zhejiang.supervision.post("/experts", json=expert(n, e), headers=official), 201)["id"]
            for n, e in enumerate(employers)
        ]

        # A batch for two candidates at a site that seats one: planted for online monitoring.
        async def drafted() -> dict[str, Any] | None:
            today = await service_today(zhejiang.recognition)
            plan = batch_plan(code, PROVINCE, 2, today=today)
            plan["site"]["capacity"] = 1
            response = await zhejiang.recognition.post("/batches", json=plan, headers=operator)
            return response.json() if response.status_code == 201 else None

        batch = await eventually(drafted, what="recognition learns of the filing")
        at = f"/batches/{batch['id']}"
        expect(await zhejiang.recognition.post(f"{at}/submit", headers=operator), 200)
        department = token(PROVINCE, "testing_department")
        expect(await zhejiang.recognition.post(f"{at}/plan-decision", json={"approve": True}, headers=department), 200)

        inspector = token(PROVINCE, "inspector")

        async def in_population() -> dict[str, Any] | None:
            response = await zhejiang.supervision.get(f"/batches/{batch['id']}", headers=inspector)
            return response.json() if response.status_code == 200 else None

        planned = await eventually(in_population, what="the approved batch reaches supervision")
        assert [s["role"] for s in planned["staff"]] == ["examiner", "invigilator", "quality_supervisor", "examiner"]

        async def alerted() -> list[dict[str, Any]] | None:
            found = expect(
                await zhejiang.supervision.get("/alerts", params={"batch": batch["id"]}, headers=inspector), 200
            )
            return found["data"] or None

        [alert] = await eventually(alerted, what="online monitoring flags the crowded site")
        assert alert["rule"] == "over_capacity" and "2 candidates for a site that seats 1" in alert["detail"]

        # The plan names a value to come; the draw waits for it.
        today = await service_today(zhejiang.supervision)
        plan = expect(
            await zhejiang.supervision.post(
                "/plans",
                json={
                    "title": "车工职业技能等级认定双随机抽查",
                    "period_from": today.isoformat(),
                    "period_to": (today + timedelta(days=60)).isoformat(),
                    "sample_size": 1,
                    "inspectors_per_target": 2,
                    "inspector_kinds": ["quality_supervisor"],
                    "entropy_source": "中国福利彩票双色球下一期开奖号码",
                    "entropy_numbers": 7,
                    "entropy_expected_on": (today + timedelta(days=1)).isoformat(),
                },
                headers=official,
            ),
            201,
        )
        exam_day = date.fromisoformat(batch["exam_starts_on"])
        await move_clock(zhejiang.supervision, exam_day, official)
        drawn = expect(
            await zhejiang.supervision.post(
                f"/plans/{plan['id']}/draw", json={"public_value": "05 11 16 23 28 30 + 12"}, headers=official
            ),
            200,
        )
        [target] = drawn["drawn"]
        assert target["target_id"] == batch["id"] and experts[0] not in target["inspectors"]
        documents = expect(await zhejiang.supervision.get(f"/plans/{plan['id']}/documents", headers=official), 200)
        assert {
            "target_id": batch["id"],
            "expert_id": experts[0],
            "reason": "employer: works for the organization",
        } in (documents["draw"]["exclusions"])

        # Anyone repeats the draw from the public documents, offline.
        async def published() -> dict[str, Any] | None:
            response = await query.get(f"/inspection-plans/{PROVINCE}/{plan['id']}")
            return response.json() if response.status_code == 200 and response.json()["draw"] else None

        public = await eventually(published, what="the plan and its draw reach the public query service")
        (tmp_path / "plan.json").write_text(json.dumps(public["plan"], ensure_ascii=False))
        (tmp_path / "draw.json").write_text(json.dumps(public["draw"], ensure_ascii=False))
        verifier = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "services.supervision.draw", "verify", "plan.json", "draw.json"),
            cwd=tmp_path,
            env={"PYTHONPATH": PROJECT},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await verifier.communicate())[0].decode()
        assert verifier.returncode == 0 and output.startswith("MATCH"), output

        # On the exam day the drawn inspectors record two findings and sign; the site signs last.
        [inspection] = expect(
            await zhejiang.supervision.get("/inspections", params={"plan": plan["id"]}, headers=inspector), 200
        )["data"]
        path = f"/inspections/{inspection['id']}"
        first, second = (token(PROVINCE, "inspector", subject=e) for e in target["inspectors"])
        record = {
            "inspected_on": exam_day.isoformat(),
            "items_checked": ["plan", "internal_supervisors", "exam_record"],
        }
        expect(await zhejiang.supervision.put(f"{path}/record", json=record, headers=first), 200)
        for item, text in (("plan", "考场座位安排与计划不符"), ("internal_supervisors", "内部督导员未到岗")):
            finding = {"item_code": item, "severity": "major", "description": text, "evidence": ["b" * 64]}
            expect(await zhejiang.supervision.post(f"{path}/findings", json=finding, headers=second), 201)
        outsider = token(PROVINCE, "inspector", subject=experts[0])
        assert (await zhejiang.supervision.post(f"{path}/signatures", headers=outsider)).status_code == 403
        for headers in (first, second, operator):
            sealed = expect(await zhejiang.supervision.post(f"{path}/signatures", headers=headers), 200)
        assert sealed["status"] == "sealed" and len(sealed["signatures"]) == 3
        late = {"item_code": "plan", "severity": "minor", "description": "补记"}
        assert (await zhejiang.supervision.post(f"{path}/findings", json=late, headers=second)).status_code == 409

        # The sealed record is in the batch's exam record in recognition.
        async def on_the_batch() -> dict[str, Any] | None:
            shown = expect(await zhejiang.recognition.get(at, headers=operator), 200)
            return shown if shown["inspections"] else None

        shown = await eventually(on_the_batch, what="recognition writes the inspection into the exam record")
        [written] = shown["inspections"]
        assert written["inspection_id"] == inspection["id"] and len(written["findings"]) == 2
        assert shown["trail"][-1]["action"] == "inspection_recorded"

        # And the public sees it, in the inspections list and on the organization's catalogue entry.
        async def public_result() -> list[dict[str, Any]] | None:
            found = expect(await query.get("/inspections", params={"organization_code": code}), 200)
            return found["data"] or None

        [result] = await eventually(public_result, what="the inspection result reaches the public")
        assert result["organization_code"] == code and len(result["findings"]) == 2
        organizations = expect(await query.get("/organizations", params={"q": code}), 200)["data"]
        assert [i["inspection_id"] for i in organizations[0]["inspections"]] == [inspection["id"]]
        everything = json.dumps([public, result, organizations], ensure_ascii=False)
        assert all(resident_id(PROVINCE, 7000 + n) not in everything for n in range(4))

        # --- part 2: the finding opens a case; rectification is ordered and its deadline passes [L28] ---------
        finding_id = sealed["findings"][0]["id"]
        case = expect(
            await zhejiang.supervision.post(
                "/cases", json={"origin": "finding", "finding_id": finding_id}, headers=official
            ),
            201,
        )
        cases = f"/cases/{case['id']}"
        decision = {"measure": "rectification", "reason": "考场安排与计划不符", "article": "L28", "working_days": 3}
        ordered = expect(await zhejiang.supervision.post(f"{cases}/measures", json=decision, headers=official), 200)
        deadline = date.fromisoformat(ordered["rectify_by"])
        await move_clock(zhejiang.supervision, deadline + timedelta(days=1), official)
        assert expect(await zhejiang.supervision.post("/deadline-runs", headers=official), 200) == {
            "overdue": [case["id"]]
        }
        suspension = {"measure": "suspension", "reason": "逾期未整改", "article": "L28"}
        suspended = expect(await zhejiang.supervision.post(f"{cases}/measures", json=suspension, headers=official), 200)
        assert suspended["suspended"] is True

        # The registry suspends the organization, and recognition refuses every step of its unapproved batch.
        async def registry_status(wanted: str) -> dict[str, Any] | None:
            shown = expect(await zhejiang.registry.get(f"/organizations/{code}"), 200)
            return shown if shown["status"] == wanted else None

        await eventually(lambda: registry_status("suspended"), what="the registry applies the suspension")

        candidates = expect(await zhejiang.recognition.get(f"{at}/candidates", headers=operator), 200)["data"]
        absent = {"results": [{"candidate_id": candidates[0]["id"], "absent": True}]}

        async def results_answer(wanted: int) -> int | None:
            response = await zhejiang.recognition.post(f"{at}/results", json=absent, headers=operator)
            return response.status_code if response.status_code == wanted else None

        await eventually(lambda: results_answer(409), what="recognition refuses the suspended organization's batch")

        # The organization reports, an inspector verifies on site, and the suspension is lifted.
        report = {"summary": "已按计划重新安排考场并补配内部督导员", "evidence": ["d" * 64]}
        expect(await zhejiang.supervision.post(f"{cases}/rectification-reports", json=report, headers=operator), 201)
        verification = {"method": "on_site", "accepted": True, "notes": "现场核查整改到位"}
        closed = expect(await zhejiang.supervision.post(f"{cases}/verification", json=verification, headers=first), 200)
        assert closed["status"] == "closed" and closed["suspended"] is False
        await eventually(lambda: registry_status("filed"), what="the registry lifts the suspension")
        await eventually(lambda: results_answer(200), what="recognition lets the batch go on")

        # A complaint through the public query service: a tracking code, upheld, a credit entry.
        complaint = {
            "about": "organization",
            "reference": code,
            "text": "考试现场有人替考, 考评员未核验身份。",
            "contact": {"name": "李女士", "phone": "13900000000"},
        }
        receipt = expect(await query.post(f"/complaints/{PROVINCE}", json=complaint), 201)
        tracking = receipt["tracking_code"]
        path = f"/complaints/{tracking}"
        expect(await zhejiang.supervision.post(f"{path}/acknowledgement", headers=official), 200)
        expect(await zhejiang.supervision.post(f"{path}/notes", json={"note": "调取监控核实"}, headers=first), 200)
        upheld = {"outcome": "upheld", "reply": "经核查属实, 已记入信用档案", "credit_severity": "general"}
        handled = expect(await zhejiang.supervision.post(f"{path}/outcome", json=upheld, headers=official), 200)
        assert handled["credit_entry_id"]
        status = expect(await query.get(path), 200)
        assert status["outcome"] == "upheld" and "13900000000" not in json.dumps(status)

        # The yearly rating falls, both catalogues show it, and the next draw weighs the organization more.
        year = (await service_today(zhejiang.supervision)).year
        [rated] = expect(await zhejiang.supervision.post("/ratings", json={"year": year}, headers=official), 200)[
            "data"
        ]
        counts = {i["code"]: i["count"] for i in rated["indicators"]}
        assert counts["finding_major"] == 2 and counts["rectification_overdue"] == 1 and counts["suspension"] == 1
        assert tracking not in json.dumps(rated)  # the code alone shows the complaint: never published
        assert counts["complaint_upheld"] == 1 and rated["score"] == 100 - 10 - 10 - 20 - 5 and rated["stars"] == 2

        async def rated_in_registry() -> dict[str, Any] | None:
            shown = expect(await zhejiang.registry.get(f"/organizations/{code}"), 200)
            return shown if shown.get("rating") else None

        assert (await eventually(rated_in_registry, what="the province's catalogue shows the rating"))["rating"][
            "stars"
        ] == 2

        async def rated_in_query() -> dict[str, Any] | None:
            found = expect(await query.get("/organizations", params={"q": code}), 200)["data"]
            return found[0] if found and found[0].get("rating") else None

        assert (await eventually(rated_in_query, what="the shared catalogue shows the rating"))["rating"]["stars"] == 2
        today = await service_today(zhejiang.supervision)
        next_plan = expect(
            await zhejiang.supervision.post(
                "/plans",
                json={
                    "title": "车工职业技能等级认定第二次双随机抽查",
                    "period_from": today.isoformat(),
                    "period_to": (today + timedelta(days=60)).isoformat(),
                    "population": {"target_kind": "organization"},
                    "sample_size": 1,
                    "inspector_kinds": ["quality_supervisor"],
                    "entropy_source": "中国福利彩票双色球下一期开奖号码",
                    "entropy_numbers": 7,
                    "entropy_expected_on": (today + timedelta(days=1)).isoformat(),
                },
                headers=official,
            ),
            201,
        )
        next_documents = expect(
            await zhejiang.supervision.get(f"/plans/{next_plan['id']}/documents", headers=official), 200
        )
        assert [t["weight"] for t in next_documents["plan"]["targets"]] == [rated["draw_weight"]] == [4]
