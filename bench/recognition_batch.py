"""Benchmark: a large recognition batch from upload to hand-off to certificates.

    .venv/bin/python -m bench.recognition_batch --candidates 100000

Starts its own Kafka (the launcher of `make up`), runs the registry and recognition of one province in this
process on SQLite, files an organization, then times each step of one batch: the streamed CSV upload
(validated row by row), submission (scope, integrity and eligibility of every candidate), plan approval,
recording every candidate's scores (5,000 a request), publicity, report, review and the province's re-check,
and the hand-off: until the relay has published every `batch results approved` part to Kafka. Peak memory is
the process's.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, func, select

from infra.servers import KafkaServer
from infra.walkthrough import (
    RESULTS_PER_REQUEST,
    batch_plan,
    candidates_csv,
    eventually,
    expect,
    filed_organization,
    move_clock,
    service_today,
)
from services.recognition.app import create as create_recognition
from services.recognition.settings import RecognitionSettings
from services.registry.app import create as create_registry
from services.registry.settings import RegistrySettings
from shared.platform.auth import Role, ensure_dev_keys, mint_token
from shared.platform.outbox import OutboxEvent
from tests.harness import Environment, serve


async def measure(env: Environment, count: int) -> dict[str, Any]:
    def token(role: str, organization: str | None = None) -> dict[str, str]:
        value = mint_token(env.keys_dir, province="33", role=Role(role), subject="bench", organization=organization)
        return {"Authorization": f"Bearer {value}"}

    timings: dict[str, Any] = {"candidates": count}

    async def timed(step: str, call: Callable[[], Awaitable[httpx.Response]], status: int = 200) -> dict[str, Any]:
        started = time.perf_counter()
        body = expect(await call(), status)
        timings[f"{step}_seconds"] = time.perf_counter() - started
        return body

    common = env.common("33")
    recognition_app = create_recognition(RecognitionSettings(**common, database_url=env.database_url("rec")))
    async with (
        serve(create_registry(RegistrySettings(**common, database_url=env.database_url("reg")))) as registry,
        serve(recognition_app) as recognition,
    ):
        recognition.timeout = httpx.Timeout(600)
        code = expect(
            await registry.post(
                "/organizations",
                json=filed_organization("33", today=await service_today(registry)),
                headers=token("province_official"),
            ),
            201,
        )["filing_code"]
        operator, department = token("org_operator", code), token("testing_department")
        official = token("province_official")
        plan = batch_plan(code, "33", candidates=[], today=await service_today(recognition))

        async def drafted() -> dict[str, Any] | None:
            response = await recognition.post("/batches", json=plan, headers=operator)
            return response.json() if response.status_code == 201 else None

        batch = await eventually(drafted, what="recognition learns of the filing")
        at = f"/batches/{batch['id']}"
        body = candidates_csv("33", count)
        timings["upload_megabytes"] = len(body) / 1e6
        await timed(
            "upload",
            lambda: recognition.post(
                f"{at}/candidates", content=body, headers={**operator, "content-type": "text/csv"}
            ),
        )
        await timed("submit", lambda: recognition.post(f"{at}/submit", headers=operator))
        await timed(
            "plan_approval", lambda: recognition.post(f"{at}/plan-decision", json={"approve": True}, headers=department)
        )
        await move_clock(recognition, date.fromisoformat(plan["exam_ends_on"]), official)
        ids: list[str] = []
        started = time.perf_counter()
        while len(ids) < count:
            page = expect(
                await recognition.get(f"{at}/candidates", params={"skip": len(ids), "limit": 5000}, headers=operator),
                200,
            )
            ids += [c["id"] for c in page["data"]]
        timings["read_candidates_seconds"] = time.perf_counter() - started
        # 5,000 scores a request: a request body takes at most 1 MiB (shared/platform/limits.py), some 13,000.
        started = time.perf_counter()
        for start in range(0, len(ids), RESULTS_PER_REQUEST):
            scores = {
                "results": [
                    {"candidate_id": i, "theory": 80, "skill": 75} for i in ids[start : start + RESULTS_PER_REQUEST]
                ]
            }
            expect(await recognition.post(f"{at}/results", json=scores, headers=operator), 200)
        timings["record_results_seconds"] = time.perf_counter() - started
        # Publicity also sums up the scores for supervision's monitoring (batch-results-published).
        publicity = {"published_on": plan["exam_ends_on"]}
        published = await timed(
            "publish_results", lambda: recognition.post(f"{at}/results-publicity", headers=operator, json=publicity)
        )
        await move_clock(
            recognition, date.fromisoformat(published["results_publicity_until"]) + timedelta(days=1), official
        )
        expect(await recognition.post(f"{at}/report", headers=operator), 200)
        expect(await recognition.post(f"{at}/review", json={"approve": True}, headers=department), 200)
        approved_at = time.perf_counter()
        await timed("approve", lambda: recognition.post(f"{at}/approve", headers=token("province_official")))
        engine = recognition_app.state.runtime.db

        async def handed_off() -> bool:
            with Session(engine) as session:
                unsent = session.exec(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(
                        OutboxEvent.event_type == "recognition.batch-results-approved",
                        col(OutboxEvent.sent_at).is_(None),
                    )
                ).one()
            return unsent == 0

        await eventually(handed_off, within=600, what="every approved part published")
        timings["approve_to_handed_off_seconds"] = time.perf_counter() - approved_at
    timings["peak_rss_megabytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def run(candidates: int = 100_000, *, kafka_bootstrap: str | None = None) -> dict[str, Any]:
    """Runs one batch (on its own Kafka unless given one); the timings."""
    with tempfile.TemporaryDirectory(prefix="bench-recognition-") as tmp:
        base = Path(tmp)
        kafka = KafkaServer(base / "kafka") if kafka_bootstrap is None else None
        if kafka is not None:
            kafka.start()
        try:
            ensure_dev_keys(base / "keys", "33")
            env = Environment(
                kafka.bootstrap if kafka is not None else str(kafka_bootstrap),
                base / "keys",
                f"bench{uuid.uuid4().hex[:6]}",
                lambda name: f"sqlite:///{base / name}.db",
            )
            return asyncio.run(measure(env, candidates))
        finally:
            if kafka is not None:
                kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    args = parser.parse_args()
    for key, value in run(args.candidates).items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
