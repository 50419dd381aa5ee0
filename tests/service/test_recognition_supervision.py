"""Recognition and supervision (services/recognition): what the plan and the results tell supervision, and what
supervision sends back about a batch: its expert panels and its sealed inspection records. Recognition accepts
performance-review scores only from the experts supervision drew [L18(三)], but for the policy's transition."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import col

from infra.walkthrough import batch_plan, expect
from services.recognition import flows, rules, service
from services.recognition.models import Batch, BatchInspection, BatchPanel, BatchTransition, Candidate
from shared.kernel.clock import Clock
from shared.kernel.errors import NotFound
from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    BATCH_RESULTS_PUBLISHED,
    EXPERTS_DISPATCHED,
    INSPECTION_RECORDED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    DispatchedExpert,
    Envelope,
    InspectionFinding,
    InspectionSignature,
)
from shared.kernel.policy import POLICIES_DIR
from shared.platform.outbox import OutboxEvent
from shared.platform.replicas import FiledOrganization
from tests.service import samples
from tests.service.conftest import ServiceBus, running

TESTED = {EXPERTS_DISPATCHED.type, INSPECTION_RECORDED.type}
CREDIT = {"supervision.credit-entry-recorded"}  # tested in test_recognition_followup.py
DETAILS = {ORGANIZATION_DETAILS_CHANGED.type}  # tested in test_recognition_rules_17.py
REPLICA = {ORGANIZATION_FILED.type, ORGANIZATION_STATUS_CHANGED.type, ORGANIZATION_SCOPE_CHANGED.type}
CODE = samples.ORGANIZATION
SITE = {"address": "杭州市西湖区文三路1号", "city": "杭州市", "county": "西湖区", "capacity": 40, "region": "330106"}
PANEL = [
    DispatchedExpert(expert_id="33-E000001", name="王评审", province="33"),
    DispatchedExpert(expert_id="32-E000007", name="钱评审", province="32"),
]


def test_every_recognition_handler_is_tested() -> None:
    """The replica's handlers are tested in test_replica_handlers.py, the credit record's in
    test_recognition_followup.py, the organization's details and authority in test_recognition_rules_17.py, those
    of supervision's other events here."""
    assert {contract.type for contract in flows.consumer.contracts} == REPLICA | TESTED | CREDIT | DETAILS


# --- set-up ---------------------------------------------------------------------------------------------


def policies(tmp_path: Path, free_text_experts_until: date | None) -> Path:
    """Zhejiang's policy with the experts' transition ending on the day given, or none (None)."""
    directory = tmp_path / "policies"
    directory.mkdir(exist_ok=True)
    text = (POLICIES_DIR / "33-zhejiang.toml").read_text(encoding="utf-8")
    line = f"free_text_experts_until = {free_text_experts_until}" if free_text_experts_until else ""
    text, replaced = re.subn(r"^free_text_experts_until = .*$", line, text, flags=re.M)
    assert replaced == 1
    (directory / "33-zhejiang.toml").write_text(text, encoding="utf-8")
    return directory


@contextlib.asynccontextmanager
async def recognition_service(
    tmp_path: Path, topic_root: str, **overrides: Any
) -> AsyncIterator[tuple[ServiceBus, httpx.AsyncClient]]:
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root, **overrides) as bus:
        with bus.unit() as unit:
            unit.session.add(
                FiledOrganization(
                    filing_code=CODE,
                    name="杭州市机械行业协会技能评价中心1号",
                    org_type="S",
                    province="33",
                    city="杭州市",
                    scope=[{"occupation_code": "6-18-01-01", "occupation_name": "车工", "levels": [5, 4, 3]}],
                    filed_on=unit.today - timedelta(days=100),
                    valid_until=unit.today + timedelta(days=900),
                    sites=[{"address": SITE["address"], "city": "杭州市"}],
                )
            )
        async with bus.http() as client:
            yield bus, client


@pytest.fixture
async def recognition(tmp_path: Path, topic_root: str) -> AsyncIterator[tuple[ServiceBus, httpx.AsyncClient]]:
    async with recognition_service(tmp_path, topic_root) as both:
        yield both


def today(bus: ServiceBus) -> date:
    with bus.unit() as unit:
        return unit.today


def operator(bus: ServiceBus) -> dict[str, str]:
    return bus.token("org_operator", CODE)


async def approved_batch(bus: ServiceBus, client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """A plan that runs today, submitted and approved over HTTP."""
    day = today(bus).isoformat()
    plan = batch_plan(CODE, "33", today=today(bus), exam_starts_on=day, exam_ends_on=day, site=SITE, **changes)
    batch = expect(await client.post("/batches", json=plan, headers=operator(bus)), 201)
    expect(await client.post(f"/batches/{batch['id']}/submit", headers=operator(bus)), 200)
    decision = {"approve": True}
    department = bus.token("testing_department")
    return expect(await client.post(f"/batches/{batch['id']}/plan-decision", json=decision, headers=department), 200)


async def candidate_ids(bus: ServiceBus, client: httpx.AsyncClient, batch_id: str) -> list[str]:
    page = expect(await client.get(f"/batches/{batch_id}/candidates", headers=operator(bus)), 200)
    return [c["id"] for c in page["data"]]


async def read(bus: ServiceBus, client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    return expect(await client.get(f"/batches/{batch_id}", headers=bus.token("inspector")), 200)


def outbox(bus: ServiceBus, event_type: str) -> list[OutboxEvent]:
    return bus.rows(OutboxEvent, OutboxEvent.event_type == event_type, order_by=col(OutboxEvent.seq))


async def deliver_refused(bus: ServiceBus, envelope: Envelope[Any]) -> None:
    """A deterministic refusal: the handler raises NotFound, every time. The platform either rewinds to the
    message or dead-letters it; either way the event is not recorded as applied."""
    processed, dead = bus.processed(), len(bus.dead_letters)
    try:
        await bus.deliver(envelope)
    except NotFound:
        assert len(bus.dead_letters) == dead
    else:
        assert len(bus.dead_letters) == dead + 1
    assert bus.processed() == processed


# --- what the plan tells supervision --------------------------------------------------------------------


async def test_the_approved_plan_carries_the_site_its_capacity_and_the_staff(
    recognition: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, client = recognition
    too_small = batch_plan(CODE, "33", today=today(bus), site={**SITE, "capacity": 0})
    refused = await client.post("/batches", json=too_small, headers=operator(bus))
    assert refused.status_code == 422 and "capacity" in refused.text

    batch = await approved_batch(bus, client)
    assert batch["site"] == SITE  # the declared seats are kept with the site
    [row] = outbox(bus, BATCH_PLAN_APPROVED.type)
    plan = BATCH_PLAN_APPROVED.parse(row.body).payload
    assert (plan.site_address, plan.site_county, plan.site_capacity) == (SITE["address"], "西湖区", 40)
    staff = batch_plan(CODE, "33")["staff"]
    assert [member.model_dump() for member in plan.staff] == [
        {"name": p["name"], "id_type": p["id_type"], "id_number": p["id_number"], "role": p["role"]} for p in staff
    ]
    assert {member.role for member in plan.staff} == {"examiner", "invigilator", "quality_supervisor"}


# --- what the results tell supervision ------------------------------------------------------------------


async def test_results_in_publicity_publish_distributions_and_shared_score_vectors_but_no_candidate(
    recognition: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, client = recognition
    batch = await approved_batch(bus, client, candidates=8)
    ids = await candidate_ids(bus, client, batch["id"])
    given = [(80, 70), (80, 70), (80, 70), (59.5, 90), (59.5, 90), (100, 100), (61, 60.2)]
    results = [{"candidate_id": i, "theory": t, "skill": s} for i, (t, s) in zip(ids, given, strict=False)]
    # Absent, with the scores of the most shared vector: counted neither in the histograms nor in the vectors.
    results.append({"candidate_id": ids[7], "theory": 80, "skill": 70, "absent": True})
    expect(await client.post(f"/batches/{batch['id']}/results", json={"results": results}, headers=operator(bus)), 200)
    assert outbox(bus, BATCH_RESULTS_PUBLISHED.type) == []

    publicity = {"published_on": today(bus).isoformat()}
    published = await client.post(f"/batches/{batch['id']}/results-publicity", json=publicity, headers=operator(bus))
    assert expect(published, 200)["status"] == "results_in_publicity"
    [row] = outbox(bus, BATCH_RESULTS_PUBLISHED.type)
    assert row.key == batch["id"]
    summary = BATCH_RESULTS_PUBLISHED.parse(row.body).payload
    assert (summary.candidates, summary.sat, summary.passed, summary.pass_mark) == (8, 7, 5, 60)
    assert (summary.published_on, summary.site_city, summary.method) == (today(bus), "杭州市", "assessment")
    histograms = {d.component: {k: n for k, n in enumerate(d.counts) if n} for d in summary.components}
    assert histograms == {  # only the components anyone scored; 59.5 in bin 59, 100 in bin 100
        "theory": {80: 3, 59: 2, 100: 1, 61: 1},
        "skill": {70: 3, 90: 2, 100: 1, 60: 1},
    }
    assert [(r.scores, r.candidates) for r in summary.repeated_scores] == [
        ({"theory": 80, "skill": 70}, 3),
        ({"theory": 59.5, "skill": 90}, 2),
    ]
    body = json.loads(row.body)["payload"]
    text = json.dumps(body, ensure_ascii=False)
    for person in batch_plan(CODE, "33", candidates=8)["candidates"]:
        assert person["name"] not in text and person["id_number"] not in text
    assert not any(i in text for i in ids)


async def test_the_summary_streams_the_score_columns_and_keeps_no_candidate_objects(
    recognition: tuple[ServiceBus, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch may hold 200,000 candidates: the summary reads a few rows at a time and loads no Candidate; it
    names the 20 most shared score vectors only."""
    bus, client = recognition
    batch = await approved_batch(bus, client, candidates=47)
    ids = await candidate_ids(bus, client, batch["id"])
    results = [{"candidate_id": i, "theory": 60 + n % 23, "skill": 75} for n, i in enumerate(ids)]
    expect(await client.post(f"/batches/{batch['id']}/results", json={"results": results}, headers=operator(bus)), 200)
    monkeypatch.setattr(service, "STREAM_ROWS", 5)
    loaded: list[object] = []

    def count_load(target: object, context: object) -> None:
        loaded.append(target)

    event.listen(Candidate, "load", count_load)
    try:
        with bus.unit() as unit:
            stored = unit.session.get(Batch, batch["id"])
            assert stored is not None
            summary = service.results_published(unit, stored, today(bus))
    finally:
        event.remove(Candidate, "load", count_load)
    assert loaded == []
    assert (summary.candidates, summary.sat, summary.passed) == (47, 47, 47)
    [theory, skill] = summary.components
    assert {k: n for k, n in enumerate(theory.counts) if n} == {60: 3} | dict.fromkeys(range(61, 83), 2)
    assert skill.counts[75] == 47
    assert [(r.scores, r.candidates) for r in summary.repeated_scores] == [
        ({"theory": 60, "skill": 75}, 3),
        *(({"theory": k, "skill": 75}, 2) for k in range(61, 80)),  # 23 vectors are shared: the first 20
    ]


# --- inspections ------------------------------------------------------------------------------------------


def inspection(batch_id: str | None, inspection_id: str = "33-I000001", **changes: Any) -> Envelope[Any]:
    signature = InspectionSignature(
        signer="王督导", role="inspector", signed_at="2026-04-01T09:30:00Z", chain_hash="4" * 64
    )
    payload = samples.inspection_recorded(inspection_id).model_copy(
        update={"batch_id": batch_id, "signatures": [signature], **changes}
    )
    return samples.envelope(payload)


async def test_an_inspection_goes_into_the_exam_record_and_the_trail_once(
    recognition: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, client = recognition
    batch = await approved_batch(bus, client)
    recorded = inspection(batch["id"])
    await bus.deliver(recorded)

    shown = await read(bus, client, batch["id"])
    assert shown["inspections"] == [
        {
            "inspection_id": "33-I000001",
            "inspected_on": "2026-04-01",
            "inspectors": ["王督导"],
            "items_checked": ["plan", "internal_supervisors"],
            "findings": [
                {
                    "item_code": "plan",
                    "item_title": "实施计划与现场一致",
                    "severity": "minor",
                    "description": "考场座位与计划不符",
                }
            ],
            "record_hash": "3" * 64,
            "signatures": [
                {"signer": "王督导", "role": "inspector", "signed_at": "2026-04-01T09:30:00Z", "chain_hash": "4" * 64}
            ],
        }
    ]
    step = shown["trail"][-1]
    assert (step["action"], step["from_status"], step["to_status"]) == (
        "inspection_recorded",
        "plan_approved",
        "plan_approved",
    )
    assert (step["actor"], step["actor_role"]) == ("王督导", "inspector")
    assert (
        "2 items checked" in step["reason"] and "1 minor" in step["reason"] and "考场座位与计划不符" in step["reason"]
    )
    assert shown["status"] == "plan_approved"  # recorded on the trail, no move

    await bus.deliver(recorded)  # redelivered: apply-once
    serious = InspectionFinding(item_code="plan", item_title="计划", severity="serious", description="另一份")
    await bus.deliver(inspection(batch["id"], findings=[serious]))  # another event, same inspection: nothing changes
    assert bus.processed() == 2
    again = await read(bus, client, batch["id"])
    assert again["inspections"] == shown["inspections"]
    assert [t for t in again["trail"] if t["action"] == "inspection_recorded"] == [step]

    await bus.deliver(inspection(batch["id"], "33-I000002", findings=[]))  # a second inspection of the batch
    later = await read(bus, client, batch["id"])
    assert [i["inspection_id"] for i in later["inspections"]] == ["33-I000001", "33-I000002"]
    assert later["trail"][-1]["reason"].endswith("no findings")


async def test_an_inspection_of_a_batch_not_here_is_refused(recognition: tuple[ServiceBus, httpx.AsyncClient]) -> None:
    bus, client = recognition
    batch = await approved_batch(bus, client)
    unknown = inspection("no-such-batch")
    with pytest.raises(NotFound), bus.unit() as unit:
        flows.on_inspection_recorded(unit, unknown)
    other_organization = inspection(batch["id"], organization_code="S000033000099")
    with pytest.raises(NotFound), bus.unit() as unit:
        flows.on_inspection_recorded(unit, other_organization)
    await deliver_refused(bus, unknown)
    assert bus.count(BatchInspection) == 0
    assert bus.count(BatchTransition, BatchTransition.action == "inspection_recorded") == 0


async def test_an_inspection_of_an_organization_not_a_batch_is_not_an_exam_record(
    recognition: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, _ = recognition
    await bus.deliver(inspection(None))
    assert bus.processed() == 1
    assert bus.count(BatchInspection) == 0


# --- dispatched panels ------------------------------------------------------------------------------------


def dispatched(
    batch_id: str, purpose: str, experts: list[DispatchedExpert], *, at: datetime | None = None
) -> Envelope[Any]:
    payload = samples.experts_dispatched(batch_id).model_copy(update={"purpose": purpose, "experts": experts})
    envelope = samples.envelope(payload)
    return envelope.model_copy(update={"occurred_at": at}) if at else envelope


async def test_the_latest_dispatch_replaces_the_panel(recognition: tuple[ServiceBus, httpx.AsyncClient]) -> None:
    bus, client = recognition
    batch = await approved_batch(bus, client)
    supervisor = DispatchedExpert(expert_id="33-E000001", name="王督导", province="33")
    replacement = DispatchedExpert(expert_id="31-E000003", name="孙督导", province="31")
    first = datetime.now(UTC)
    await bus.deliver(dispatched(batch["id"], "quality_supervision", [supervisor], at=first))
    assert (await read(bus, client, batch["id"]))["external_supervisors"] == [supervisor.model_dump()]

    # The first supervisor declined: supervision sends the panel again.
    await bus.deliver(dispatched(batch["id"], "quality_supervision", [replacement], at=first + timedelta(minutes=5)))
    await bus.deliver(dispatched(batch["id"], "performance_review", PANEL))
    shown = await read(bus, client, batch["id"])
    assert shown["external_supervisors"] == [replacement.model_dump()]
    assert shown["review_panel"] == [e.model_dump() for e in PANEL]

    # An older dispatch arriving late, and the registry's technical assessment, change nothing.
    await bus.deliver(dispatched(batch["id"], "quality_supervision", [supervisor], at=first - timedelta(minutes=5)))
    await bus.deliver(dispatched(batch["id"], "technical_assessment", [supervisor]))
    assert await read(bus, client, batch["id"]) == shown
    assert bus.count(BatchPanel) == 2
    assert bus.processed() == 5

    await deliver_refused(bus, dispatched("no-such-batch", "performance_review", PANEL))
    assert bus.count(BatchPanel) == 2


# --- recognition accepts only drawn experts [L18(三)] -----------------------------------------------------


def combined_results(ids: list[str], reviewers: list[str] | None = None) -> dict[str, Any]:
    scores = [{"candidate_id": i, "theory": 70, "skill": 72, "performance": 80} for i in ids]
    return {"results": scores} | ({"reviewers": reviewers} if reviewers is not None else {})


def refusals(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["reason"]) for e in response.json()["detail"]]


async def test_performance_scores_are_taken_only_from_the_drawn_panel(tmp_path: Path, topic_root: str) -> None:
    async with recognition_service(tmp_path, topic_root, policies_dir=policies(tmp_path, None)) as (bus, client):
        batch = await approved_batch(bus, client, method="combined")
        at = f"/batches/{batch['id']}/results"
        ids = await candidate_ids(bus, client, batch["id"])

        nameless = refusals(await client.post(at, json=combined_results(ids), headers=operator(bus)))
        assert [field for field, _ in nameless] == ["reviewers"]
        [(_, reason)] = refusals(
            await client.post(at, json=combined_results(ids, ["33-E000001"]), headers=operator(bus))
        )
        assert "no performance-review panel" in reason and "only drawn experts" in reason

        await bus.deliver(dispatched(batch["id"], "performance_review", PANEL))
        typed_in = combined_results(ids, ["33-E000001", "张专家", "33-E000001"])
        assert refusals(await client.post(at, json=typed_in, headers=operator(bus))) == [
            (
                "reviewers.1",
                "张专家 is not on the performance-review panel drawn for this batch (32-E000007, 33-E000001): "
                "recognition accepts only drawn experts [L18(三), Z五(五)]",
            ),
            ("reviewers.2", "33-E000001 is listed twice"),
        ]
        # A score short of a component and an undrawn reviewer: both reported at once, nothing stored.
        short = combined_results(ids, ["李专家"])
        del short["results"][0]["skill"]
        assert [field for field, _ in refusals(await client.post(at, json=short, headers=operator(bus)))] == [
            "results.0.skill",
            "reviewers.0",
        ]
        assert bus.count(Candidate, col(Candidate.passed).is_not(None)) == 0
        assert (await read(bus, client, batch["id"]))["reviewers"] == []

        drawn = combined_results(ids, ["33-E000001"])
        recorded = expect(await client.post(at, json=drawn, headers=operator(bus)), 200)
        assert recorded["status"] == "results_recorded"
        assert recorded["reviewers"] == [
            {"expert_id": "33-E000001", "name": "王评审", "drawn": True, "recorded_on": today(bus).isoformat()}
        ]


async def test_scores_without_a_performance_review_need_no_reviewers(tmp_path: Path, topic_root: str) -> None:
    async with recognition_service(tmp_path, topic_root, policies_dir=policies(tmp_path, None)) as (bus, client):
        batch = await approved_batch(bus, client)
        ids = await candidate_ids(bus, client, batch["id"])
        results = {"results": [{"candidate_id": i, "theory": 70, "skill": 72} for i in ids]}
        recorded = expect(
            await client.post(f"/batches/{batch['id']}/results", json=results, headers=operator(bus)), 200
        )
        assert (recorded["status"], recorded["reviewers"]) == ("results_recorded", [])


async def test_during_the_transition_experts_typed_in_are_accepted_and_marked(tmp_path: Path, topic_root: str) -> None:
    transition_ends = Clock().today() + timedelta(days=365)
    async with recognition_service(tmp_path, topic_root, policies_dir=policies(tmp_path, transition_ends)) as (
        bus,
        client,
    ):
        batch = await approved_batch(bus, client, method="combined")
        at = f"/batches/{batch['id']}/results"
        ids = await candidate_ids(bus, client, batch["id"])
        nameless = refusals(await client.post(at, json=combined_results(ids), headers=operator(bus)))
        assert [field for field, _ in nameless] == ["reviewers"]  # still named, drawn or not

        await bus.deliver(dispatched(batch["id"], "performance_review", PANEL))
        first = combined_results(ids[:1], ["张专家"])
        expect(await client.post(at, json=first, headers=operator(bus)), 200)
        second = combined_results(ids[1:], ["32-E000007", "张专家"])
        recorded = expect(await client.post(at, json=second, headers=operator(bus)), 200)
        day = today(bus).isoformat()
        assert recorded["reviewers"] == [
            {"expert_id": "张专家", "name": None, "drawn": False, "recorded_on": day},
            {"expert_id": "32-E000007", "name": "钱评审", "drawn": True, "recorded_on": day},
        ]


def test_the_reviewer_rule_reports_every_error_and_ends_with_the_transition() -> None:
    panel = {"33-E000001": "王评审"}
    ends = date(2027, 6, 30)

    def errors(reviewers: list[str], on: date, *, scored: bool = True, until: date | None = ends) -> list[str]:
        found = rules.reviewer_errors(
            reviewers, performance_scored=scored, panel=panel, free_text_until=until, today=on
        )
        return [e.field for e in found]

    assert errors(["张专家"], ends) == []  # the last day of the transition
    assert errors(["张专家"], ends + timedelta(days=1)) == ["reviewers.0"]
    assert errors(["张专家"], ends, until=None) == ["reviewers.0"]
    assert errors(["33-E000001"], ends + timedelta(days=1)) == []
    assert errors([], ends) == ["reviewers"]
    assert errors([], ends, scored=False) == []
    assert errors(["张专家", "33-E000001", "李专家", "33-E000001"], ends + timedelta(days=1)) == [
        "reviewers.0",
        "reviewers.2",
        "reviewers.3",
    ]
    assert rules.free_text_experts_accepted(ends, ends) and not rules.free_text_experts_accepted(None, ends)
