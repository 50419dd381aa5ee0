"""Supervision part 2 over HTTP (services/supervision): cases and measures with deadlines [L28], the credit
record [L6(一), Z五(五)], the star rating and its draw weights [Z五(五)], complaints and reports [G四(一)]."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from typing import Any

import httpx

from services.supervision.models import Case, Complaint, CreditEntry
from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    ORGANIZATION_RATED,
    SANCTION_IMPOSED,
)
from shared.platform.auth import Role
from tests.service import samples
from tests.service.conftest import ServiceBus
from tests.service.test_supervision import (
    ORG,
    ORG_CREDIT,
    as_inspector,
    drawn_inspection,
    emitted,
    expert_in,
    file_organization,
    official,
    person,
    pool_and_batch,
    supervision,
    supervision_on,
    today,
)

__all__ = ["supervision", "supervision_on"]  # the fixtures, shared with test_supervision.py


async def sealed_finding(bus: ServiceBus, client: httpx.AsyncClient, severity: str = "major") -> int:
    """A drawn inspection of the organization's batch with one finding, signed by everyone: the finding's id."""
    inspection_id, inspectors = await drawn_inspection(bus, client)
    first = as_inspector(bus, inspectors[0])
    record = {"inspected_on": today(bus).isoformat(), "items_checked": ["plan"]}
    assert (await client.put(f"/inspections/{inspection_id}/record", json=record, headers=first)).status_code == 200
    finding = {
        "item_code": "plan",
        "severity": severity,
        "description": "考评员与计划不符",
        "public_summary": "考评员与计划不符",
    }
    created = await client.post(f"/inspections/{inspection_id}/findings", json=finding, headers=first)
    assert created.status_code == 201, created.text
    for headers in [*(as_inspector(bus, e) for e in inspectors), bus.token(Role.ORG_OPERATOR, ORG)]:
        assert (await client.post(f"/inspections/{inspection_id}/signatures", headers=headers)).status_code == 200
    return int(created.json()["id"])


def measure(name: str, **changes: Any) -> dict[str, Any]:
    return {"measure": name, "reason": "考评员与计划不符, 未按规定回避", "article": "L28", **changes}


async def test_a_finding_opens_one_case_and_the_chain_of_measures_runs_to_the_lifted_suspension(
    supervision: ServiceBus,
) -> None:
    bus = supervision
    async with pool_and_batch(bus) as (client, experts):
        finding_id = await sealed_finding(bus, client)
        opened = await client.post(
            "/cases", json={"origin": "finding", "finding_id": finding_id}, headers=official(bus)
        )
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        again = await client.post("/cases", json={"origin": "finding", "finding_id": finding_id}, headers=official(bus))
        assert again.status_code == 409 and bus.count(Case) == 1

        too_long = await client.post(
            f"/cases/{case_id}/measures", json=measure("rectification", working_days=61), headers=official(bus)
        )
        assert too_long.status_code == 422 and "working_days" in too_long.text
        ordered = await client.post(
            f"/cases/{case_id}/measures", json=measure("rectification", working_days=5), headers=official(bus)
        )
        assert ordered.json()["status"] == "rectifying", ordered.text
        deadline = ordered.json()["rectify_by"]

        bus.runtime.clock.move_on(10)  # five working days are at most nine calendar days
        overdue = await client.post("/deadline-runs", headers=official(bus))
        assert overdue.json() == {"overdue": [case_id]}
        case = (await client.get(f"/cases/{case_id}", headers=official(bus))).json()
        assert case["status"] == "overdue" and case["proposed_measure"] == "suspension"
        site = bus.token(Role.ORG_OPERATOR, ORG)
        report = {"summary": "已整改: 考评员重新安排", "evidence": ["b" * 64]}
        assert (
            await client.post(f"/cases/{case_id}/rectification-reports", json=report, headers=site)
        ).status_code == 409

        suspended = await client.post(f"/cases/{case_id}/measures", json=measure("suspension"), headers=official(bus))
        assert suspended.json()["status"] == "rectifying" and suspended.json()["suspended"] is True
        other = bus.token(Role.ORG_OPERATOR, "S000033000999")
        assert (
            await client.post(f"/cases/{case_id}/rectification-reports", json=report, headers=other)
        ).status_code == 403
        filed = await client.post(f"/cases/{case_id}/rectification-reports", json=report, headers=site)
        assert filed.status_code == 201 and filed.json()["status"] == "report_filed"
        verified = await client.post(
            f"/cases/{case_id}/verification",
            json={"method": "on_site", "accepted": True, "notes": "现场核查, 已整改到位"},
            headers=as_inspector(bus, experts[1]),
        )
        body = verified.json()
        assert body["status"] == "closed" and body["suspended"] is False
        assert [s["action"] for s in body["steps"]] == ["open", "decide", "overdue", "decide", "file_report", "verify"]
    sanctions = [payload for _, payload in emitted(bus, SANCTION_IMPOSED)]
    assert [s["measure"] for s in sanctions] == ["rectification", "suspension", "suspension_lifted"]
    assert sanctions[0]["rectify_by"] == deadline and all(s["case_id"] == case_id for s in sanctions)
    [(_, entry)] = emitted(bus, CREDIT_ENTRY_RECORDED)  # a suspension leaves a general entry
    assert entry["severity"] == "general" and entry["credit_code"] == ORG_CREDIT and entry["source"] == "sanction"


async def test_revocation_leaves_a_serious_entry_and_the_case_closes_only_with_the_archives(
    supervision: ServiceBus,
) -> None:
    bus = supervision
    await file_organization(bus)
    async with bus.http() as client:
        own = {"origin": "official", "organization_code": ORG, "summary": "成绩造假, 经调查核实"}
        case_id = (await client.post("/cases", json=own, headers=official(bus))).json()["id"]
        assert (
            await client.post(f"/cases/{case_id}/measures", json=measure("revocation"), headers=official(bus))
        ).json()["status"] == "follow_up"
        await bus.deliver(samples.envelope(samples.batch_withdrawn().model_copy(update={"decided_on": today(bus)})))
        handover = {
            "received_by": "浙江省职业技能鉴定指导中心",
            "handed_over_on": today(bus).isoformat(),
            "note": "档案 3 箱",
        }
        closed = await client.post(f"/cases/{case_id}/archive-handover", json=handover, headers=official(bus))
        body = closed.json()
        assert body["status"] == "closed" and [b["batch_id"] for b in body["withdrawn_batches"]] == [samples.BATCH]
        assert (
            await client.post(f"/cases/{case_id}/archive-handover", json=handover, headers=official(bus))
        ).status_code == 409
        exported = await client.get("/credit-entries/export.csv", headers=official(bus))
        rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["entry_id", "subject_kind", "name"] and len(rows) == 2 and rows[1][3] == ORG_CREDIT
        assert (
            await client.get("/credit-entries/export.csv", headers=as_inspector(bus, "33-E000001"))
        ).status_code == 403
    assert [p["measure"] for _, p in emitted(bus, SANCTION_IMPOSED)] == ["revocation"]
    [(_, entry)] = emitted(bus, CREDIT_ENTRY_RECORDED)
    assert entry["severity"] == "serious"


async def test_two_officials_deciding_one_measure_at_once_decide_it_once(supervision_on: ServiceBus) -> None:
    bus = supervision_on
    await file_organization(bus)
    async with bus.http() as client:
        own = {"origin": "official", "organization_code": ORG, "summary": "管理失序"}
        case_id = (await client.post("/cases", json=own, headers=official(bus))).json()["id"]
        answers = await asyncio.gather(
            *(
                client.post(f"/cases/{case_id}/measures", json=measure("suspension"), headers=official(bus))
                for _ in range(3)
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 422, 422]
    assert len(emitted(bus, SANCTION_IMPOSED)) == 1 and bus.count(CreditEntry) == 1


async def test_an_expert_with_a_serious_entry_is_neither_registered_nor_drawn(supervision: ServiceBus) -> None:
    bus = supervision
    async with pool_and_batch(bus) as (client, experts):
        barred = person(101)
        entry = {
            "subject_kind": "person",
            **barred,
            "severity": "serious",
            "source": "import",
            "source_ref": "XYZJ-2026-0001",
            "reason": "违规出具评价结果",
            "article": "Z五(五)",
        }
        imported = await client.post("/credit-entries/imports", json={"entries": [entry]}, headers=official(bus))
        assert imported.status_code == 201, imported.text
        again = await client.post("/credit-entries/imports", json={"entries": [entry]}, headers=official(bus))
        assert again.status_code == 409 and bus.count(CreditEntry) == 1
        refused = await client.post("/experts", json=expert_in(101), headers=official(bus))
        assert refused.status_code in (409, 422)  # already in the pool, or barred
        fresh = await client.post(
            "/experts",
            json={**expert_in(200), **{k: barred[k] for k in ("id_type", "id_number")}},
            headers=official(bus),
        )
        assert fresh.status_code in (409, 422)
        masked = (await client.get("/credit-entries", headers=as_inspector(bus, experts[1]))).json()["data"][0]
        assert masked["id_number"] != barred["id_number"]
        published = await client.post(
            "/plans",
            json={
                "title": "2026年车工专项督查",
                "period_from": today(bus).isoformat(),
                "period_to": (today(bus) + timedelta(days=60)).isoformat(),
                "sample_size": 1,
                "inspector_kinds": ["quality_supervisor"],
                "entropy_source": "中国福利彩票双色球下一期开奖号码",
                "entropy_numbers": 7,
                "entropy_expected_on": (today(bus) + timedelta(days=2)).isoformat(),
            },
            headers=official(bus),
        )
        documents = await client.get(f"/plans/{published.json()['id']}/documents", headers=official(bus))
        pool = [i["expert_id"] for i in documents.json()["plan"]["inspectors"]]
        assert experts[1] not in pool and experts[2] in pool
    [(_, payload)] = emitted(bus, CREDIT_ENTRY_RECORDED)
    assert payload["id_number"] == barred["id_number"]  # to registry and recognition of the province only


async def test_the_rating_counts_the_year_and_weighs_the_next_draw(supervision: ServiceBus) -> None:
    bus = supervision
    async with pool_and_batch(bus) as (client, _):
        year = today(bus).year
        clean = await client.post("/ratings", json={"year": year}, headers=official(bus))
        [before] = clean.json()["data"]
        assert before["stars"] == 5 and before["score"] == 100 and before["draw_weight"] == 1
        await sealed_finding(bus, client, severity="serious")
        await bus.deliver(samples.envelope(samples.results_reported().model_copy(update={"reported_on": today(bus)})))
        correction = samples.correction().model_copy(update={"corrected_on": today(bus)})
        await bus.deliver(samples.envelope(correction))
        await bus.deliver(samples.envelope(correction))  # delivered twice, counted once
        rated = await client.post("/ratings", json={"year": year}, headers=official(bus))
        [after] = rated.json()["data"]
        counts = {i["code"]: i["count"] for i in after["indicators"]}
        assert counts["finding_serious"] == 1 and counts["report_late"] == 1 and counts["objection_upheld"] == 1
        assert counts["correction_after_approval"] == 1
        assert after["score"] == 100 - 15 - 3 - 3 - 2 and after["stars"] == 4 and after["draw_weight"] == 2
        assert sum(i["count"] * i["points"] for i in after["indicators"]) == 100 - after["score"]
        bus.runtime.clock.move_on(1)
        response = await client.post(
            "/plans",
            json={
                "title": "2026年车工再次抽查",
                "period_from": (today(bus) - timedelta(days=0)).isoformat(),
                "period_to": (today(bus) + timedelta(days=60)).isoformat(),
                "sample_size": 1,
                "inspector_kinds": ["quality_supervisor"],
                "entropy_source": "中国福利彩票双色球下一期开奖号码",
                "entropy_numbers": 7,
                "entropy_expected_on": (today(bus) + timedelta(days=2)).isoformat(),
            },
            headers=official(bus),
        )
        assert response.status_code == 201, response.text
        documents = await client.get(f"/plans/{response.json()['id']}/documents", headers=official(bus))
        assert [t["weight"] for t in documents.json()["plan"]["targets"]] == [2]
    ratings = [payload for _, payload in emitted(bus, ORGANIZATION_RATED)]
    assert [r["stars"] for r in ratings] == [5, 4]


def complaint(**changes: Any) -> dict[str, Any]:
    return {
        "about": "organization",
        "reference": ORG,
        "text": "该机构考试时考评员代考, 现场无人监考。",
        "contact": {"name": "王先生", "phone": "13800000000"},
        "attachments": ["c" * 64],
        **changes,
    }


async def test_a_complaint_gets_a_tracking_code_is_upheld_and_leaves_a_credit_entry(supervision: ServiceBus) -> None:
    bus = supervision
    await file_organization(bus)
    async with bus.http() as client:
        for bad in (complaint(anonymous=True), complaint(contact=None), complaint(text="短")):
            refused = await client.post("/complaints", json=bad)
            assert refused.status_code == 422, refused.text
        assert bus.count(Complaint) == 0
        receipt = await client.post("/complaints", json=complaint())
        assert receipt.status_code == 201, receipt.text
        code = receipt.json()["tracking_code"]
        anonymous = await client.post("/complaints", json=complaint(anonymous=True, contact=None))
        assert anonymous.status_code == 201 and anonymous.json()["tracking_code"] != code
        public = await client.get(f"/complaints/{code}")
        assert public.json()["status"] == "received" and "13800000000" not in public.text and "代考" not in public.text
        assert (await client.get("/complaints/33-0000000000ZZ")).status_code == 404
        handled = as_inspector(bus, "33-E000001")
        assert (await client.post(f"/complaints/{code}/acknowledgement", headers=handled)).status_code == 403
        assert (await client.post(f"/complaints/{code}/acknowledgement", headers=official(bus))).status_code == 200
        assert (await client.post(f"/complaints/{code}/acknowledgement", headers=official(bus))).status_code == 409
        note = await client.post(f"/complaints/{code}/notes", json={"note": "调取监控, 核实代考属实"}, headers=handled)
        assert note.json()["status"] == "investigating" and note.json()["contact"] is None
        upheld = {
            "outcome": "upheld",
            "reply": "经核查属实, 已立案处理",
            "open_case": True,
            "credit_severity": "serious",
        }
        closed = await client.post(f"/complaints/{code}/outcome", json=upheld, headers=official(bus))
        body = closed.json()
        assert body["outcome"] == "upheld" and body["case_id"] and body["credit_entry_id"]
        assert body["contact"]["phone"] == "13800000000" and body["routed_to"]
        seen = (await client.get(f"/complaints/{code}")).json()
        assert seen["status"] == "closed" and seen["reply"] == "经核查属实, 已立案处理" and seen["late"] is False
        bus.runtime.clock.move_on(30)
        late = (await client.get(f"/complaints/{anonymous.json()['tracking_code']}")).json()
        assert late["late"] is True  # not acknowledged within five working days
    [(_, entry)] = emitted(bus, CREDIT_ENTRY_RECORDED)
    assert entry["source"] == "complaint" and entry["source_ref"] == code
    outbox = json.dumps(
        [p for contract in (SANCTION_IMPOSED, CREDIT_ENTRY_RECORDED) for _, p in emitted(bus, contract)]
    )
    assert "13800000000" not in outbox and "王先生" not in outbox
