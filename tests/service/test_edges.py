"""The edges of a provincial service: one transaction per request, the training clock, FastAPI's overrides,
and a submission the shared query service cannot answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from infra.servers import free_port
from infra.walkthrough import batch_plan, candidate, filed_organization, organization_application
from services.recognition.models import Batch, BatchStatus, BatchTransition
from services.registry.models import Organization
from shared.kernel.clock import Clock
from shared.platform.app import stop
from shared.platform.deps import unit_dependency
from shared.platform.outbox import OutboxEvent
from shared.platform.unit import Unit
from tests.service.conftest import running
from tests.service.samples import filed_replica, organization_filed


async def test_a_registration_that_cannot_be_filed_leaves_no_application_and_no_event(
    tmp_path: Path, topic_root: str
) -> None:
    """Taking in an organization filed before the system ran is one step: a refused one (its code's sequence
    already used here, its validity lapsed, with every other error at once) leaves no application and no
    event [L9]."""
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root) as registry:
        official = registry.token("province_official")
        async with registry.http() as client:
            first = await client.post("/organizations", json=filed_organization("33"), headers=official)
            assert first.status_code == 201, first.text
            kept, events = registry.count(Organization), registry.count(OutboxEvent)
            lapsed = filed_organization("33", 2, code="S000033000001", full_time_staff=1)
            lapsed["valid_until"] = "2020-01-01"
            lapsed["filed_on"] = "2017-01-01"
            response = await client.post("/organizations", json=lapsed, headers=official)
        assert response.status_code == 422
        assert sorted(e["field"] for e in response.json()["detail"]) == [
            "filing_code",
            "full_time_staff",
            "valid_until",
        ]
        assert registry.count(Organization) == kept
        assert registry.count(OutboxEvent) == events


async def test_the_clock_moves_for_a_province_official_and_for_all_the_province_services(
    tmp_path: Path, topic_root: str
) -> None:
    clock: dict[str, Any] = {"adjustable_clock": True, "clock_file": tmp_path / "clock" / "33.days"}
    async with (
        running("registry", tmp_path=tmp_path, topic_root=topic_root, **clock) as registry,
        running("certificates", tmp_path=tmp_path, topic_root=topic_root, **clock) as certificates,
        registry.http() as registry_http,
        certificates.http() as certificates_http,
    ):
        today = Clock().today()
        assert (await registry_http.post("/clock", json={"days": 5})).status_code == 401
        inspector = registry.token("inspector")
        assert (await registry_http.post("/clock", json={"days": 5}, headers=inspector)).status_code == 403
        official = registry.token("province_official")
        assert (await registry_http.post("/clock", json={"days": 0}, headers=official)).status_code == 422
        moved = await registry_http.post("/clock", json={"days": 5}, headers=official)
        assert moved.json() == {"today": (today + timedelta(days=5)).isoformat(), "offset_days": 5}
        # Another service of the province, and the units of work of both, go by the moved date.
        assert (await certificates_http.get("/clock")).json()["offset_days"] == 5
        with certificates.unit() as unit:
            assert unit.today == today + timedelta(days=5)


async def test_a_real_deployment_refuses_to_move_its_clock(tmp_path: Path, topic_root: str) -> None:
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root) as registry, registry.http() as client:
        refused = await client.post("/clock", json={"days": 5}, headers=registry.token("province_official"))
        assert refused.status_code == 403
        assert "real date" in refused.json()["detail"]
        assert (await client.get("/clock")).json() == {"today": Clock().today().isoformat(), "offset_days": 0}


async def test_a_provincial_service_honours_dependency_overrides(tmp_path: Path, topic_root: str) -> None:
    """The provincial services' routes are included, not copied: a test or an operator tool can override a
    dependency, here the unit of work's date."""
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root) as registry:
        assert registry.app is not None
        runtime = registry.runtime

        def unit_on_new_year() -> Iterator[Unit[Any]]:
            with Session(runtime.db, expire_on_commit=False) as session, session.begin():
                yield Unit(
                    session=session, today=date(2027, 1, 1), settings=runtime.settings, policy=runtime.settings.policy
                )

        registry.app.dependency_overrides[unit_dependency] = unit_on_new_year
        async with registry.http() as client:
            submitted = await client.post(
                "/applications", json=organization_application("33"), headers=registry.token("province_official")
            )
        assert submitted.status_code == 201, submitted.text
        assert submitted.json()["submitted_on"] == "2027-01-01"


async def test_an_unreachable_query_service_decides_nothing(tmp_path: Path, topic_root: str) -> None:
    """A submission whose prior certificate cannot be checked answers 503 and leaves the plan as it was."""
    nobody_listens = f"http://127.0.0.1:{free_port()}"
    async with running(
        "recognition", tmp_path=tmp_path, topic_root=topic_root, query_url=nobody_listens, query_timeout_seconds=2
    ) as recognition:
        filed = organization_filed(levels=[5, 4, 3])
        with recognition.unit() as unit:
            unit.session.add(filed_replica(Clock().today(), levels=[5, 4, 3]))
        operator = recognition.token("org_operator", filed.filing_code)
        claimant = candidate("33", 0, prior_certificate_number="S000032000001264000001")
        plan = batch_plan(filed.filing_code, "33", candidates=[claimant], level=3)
        async with recognition.http() as client:
            created = await client.post("/batches", json=plan, headers=operator)
            assert created.status_code == 201, created.text
            batch_id = created.json()["id"]
            submitted = await client.post(f"/batches/{batch_id}/submit", headers=operator)
            assert submitted.status_code == 503
            assert "nothing was changed" in submitted.json()["detail"]
            assert (await client.get(f"/batches/{batch_id}", headers=operator)).json()["status"] == "draft"
        with recognition.unit() as unit:
            batch = unit.session.get(Batch, batch_id)
            assert batch is not None and batch.status is BatchStatus.DRAFT
            trail = unit.session.exec(select(BatchTransition.action).where(BatchTransition.batch_id == batch_id))
            assert list(trail) == ["create"]


async def test_shutdown_is_bounded_when_a_part_will_not_stop(
    tmp_path: Path, topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A part that never finishes stopping (a consumer held in a rebalance, say) is cancelled at its bound and
    the rest still stops: a deployment's shutdown cannot hang."""
    async with running("supervision", tmp_path=tmp_path, topic_root=topic_root, stop_step_seconds=0.2) as service:
        stopped_after: list[str] = []

        async def never_stops() -> None:
            await asyncio.Event().wait()

        async def stops() -> None:
            stopped_after.append("the stuck part")

        service.runtime.on_stop[:0] = [never_stops, stops]
        started = time.monotonic()
        try:
            await asyncio.wait_for(stop(service.runtime), timeout=5)  # unbounded, this would wait for ever
        finally:
            del service.runtime.on_stop[:2]
        assert time.monotonic() - started < 2
        assert stopped_after == ["the stuck part"]
        assert "never_stops did not stop within" in caplog.text
