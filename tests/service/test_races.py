"""Two people pressing the same button at once, on SQLite and on PostgreSQL: exactly one succeeds, the others are
told (409) what the first did, and nothing is numbered, announced or recorded twice. Every provincial service's
units that change something begin holding SQLite's write lock and lock the row they load on PostgreSQL
(shared.platform.db.for_changes and fetch)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col

from services.recognition.models import Batch, BatchTransition
from services.registry.models import Organization, Transition
from shared.kernel.events import BATCH_PLAN_APPROVED, BATCH_RESULTS_APPROVED, ORGANIZATION_FILED
from shared.platform.outbox import OutboxEvent
from shared.platform.sequences import SequenceCounter
from tests.service import test_recognition_followup as followup
from tests.service.conftest import ServiceBus, running
from tests.service.test_recognition_followup import department, draft
from tests.service.test_recognition_followup import every_stage as batches_in_every_state
from tests.service.test_recognition_supervision import operator
from tests.service.test_registry_jurisdiction import assessed, ok, published, submit, today

CONCURRENT = 5
recognition_on = followup.recognition_on  # the fixture: recognition on SQLite and on PostgreSQL


def statuses(answers: list[httpx.Response]) -> list[int]:
    return sorted(answer.status_code for answer in answers)


def events(bus: ServiceBus, event_type: str) -> list[dict[str, Any]]:
    rows = bus.rows(OutboxEvent, OutboxEvent.event_type == event_type, order_by=col(OutboxEvent.seq))
    return [json.loads(row.body)["payload"] for row in rows]


def officials(bus: ServiceBus, role: str) -> list[dict[str, str]]:
    """Five different officials' tokens: the same step pressed by five people."""
    return [bus.token(role, subject=f"official-{n}") for n in range(CONCURRENT)]


@pytest.fixture
async def registry_on(database_url_factory: Any, tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running(
        "registry",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock" / "33.days",
        database_url=database_url_factory("registry"),
    ) as bus:
        yield bus


async def test_five_officials_filing_one_application_at_once_file_it_once(registry_on: ServiceBus) -> None:
    registry = registry_on
    province = registry.token("province_official")
    async with registry.http() as client:
        app_id = await submit(client, registry, 1)
        await assessed(client, registry, app_id, by=province)
        until = await published(client, registry, app_id, by=province)
        registry.runtime.clock.move_on((until - today(registry)).days + 1)
        answers = await asyncio.gather(
            *(client.post(f"/applications/{app_id}/file", headers=h) for h in officials(registry, "province_official"))
        )
        assert statuses(answers) == [200] + [409] * (CONCURRENT - 1), [a.text for a in answers]
        [first] = [a.json() for a in answers if a.status_code == 200]
        assert all("it is filed" in a.json()["detail"] for a in answers if a.status_code == 409)
        shown = ok(await client.get(f"/organizations/{first['filing_code']}"))
    [filed] = events(registry, ORGANIZATION_FILED.type)
    assert filed["filing_code"] == first["filing_code"] == shown["filing_code"]
    [counter] = registry.rows(SequenceCounter, col(SequenceCounter.name).startswith("filing:"))
    assert counter.value == 1  # no number taken by a filing that was refused
    assert [t.action for t in registry.rows(Transition, Transition.organization_id == app_id)].count("file") == 1
    assert registry.count(Organization, col(Organization.filing_code).is_not(None)) == 1


async def test_five_officials_accepting_at_once_accept_once(registry_on: ServiceBus) -> None:
    registry = registry_on
    async with registry.http() as client:
        app_id = await submit(client, registry, 2)
        at = f"/applications/{app_id}/accept"
        answers = await asyncio.gather(*(client.post(at, headers=h) for h in officials(registry, "province_official")))
    assert statuses(answers) == [200] + [409] * (CONCURRENT - 1), [a.text for a in answers]
    assert [t.action for t in registry.rows(Transition, Transition.organization_id == app_id)].count("accept") == 1


async def test_five_officials_approving_one_batch_at_once_approve_it_once(
    recognition_on: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, client = recognition_on
    reviewed = (await batches_in_every_state(bus, client))["reviewed"]
    answers = await asyncio.gather(
        *(client.post(f"/batches/{reviewed}/approve", headers=h) for h in officials(bus, "province_official"))
    )
    assert statuses(answers) == [200] + [409] * (CONCURRENT - 1), [a.text for a in answers]
    approvals = [e for e in events(bus, BATCH_RESULTS_APPROVED.type) if e["batch_id"] == reviewed]
    assert {e["part"] for e in approvals} == set(range(1, approvals[0]["parts"] + 1))  # each part once
    assert len(approvals) == approvals[0]["parts"]
    trail = [t.action for t in bus.rows(BatchTransition, BatchTransition.batch_id == reviewed)]
    assert trail.count("approve_results") == 1


async def test_one_department_approving_and_another_returning_a_plan_at_once_decide_it_once(
    recognition_on: tuple[ServiceBus, httpx.AsyncClient],
) -> None:
    bus, client = recognition_on
    batch = await draft(bus, client)
    ok(await client.post(f"/batches/{batch['id']}/submit", headers=operator(bus)))
    decisions = [{"approve": True}, {"approve": False, "reason": "考场与计划不符"}]
    answers = await asyncio.gather(
        *(
            client.post(f"/batches/{batch['id']}/plan-decision", json=decision, headers=department(bus))
            for decision in decisions
        )
    )
    assert statuses(answers) == [200, 409], [a.text for a in answers]
    [decided] = [a.json() for a in answers if a.status_code == 200]
    [stored] = bus.rows(Batch, Batch.id == batch["id"])
    assert stored.status.value == decided["status"]
    announced = [e for e in events(bus, BATCH_PLAN_APPROVED.type) if e["batch_id"] == batch["id"]]
    assert len(announced) == (1 if decided["status"] == "plan_approved" else 0)
