"""End to end: the real processes, started as `make up` starts them, for both provinces."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from infra.stack import PROVINCES, PROVINCIAL_SERVICES, Stack, run_demo
from infra.walkthrough import ProvinceClients, eventually, expect, walk_province
from shared.kernel.events import BATCH_RESULTS_APPROVED

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str) -> Iterator[Stack]:
    suite = Stack(
        var_dir=tmp_path_factory.mktemp("var"),
        fixed_ports=False,
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        topic_root=f"e2e{uuid.uuid4().hex[:8]}",
    )
    try:
        suite.start()
        yield suite
    finally:
        suite.stop()


async def test_demo_prints_lookup_urls_that_resolve(stack: Stack) -> None:
    walks = await run_demo(stack)
    assert len(walks) == len(PROVINCES)
    async with httpx.AsyncClient(timeout=10) as client:
        for (url, walk), province in zip(walks, PROVINCES, strict=True):
            view = expect(await client.get(url), 200)
            assert view["province"] == province
            assert view["level_title"] == "四级/中级工"
            assert view["work_type"] == "--"
            # The shared query service also finds it by name + ID number, the ID shown masked.
            candidate = walk.candidates[0]
            params = {"name": candidate["name"], "id_number": candidate["id_number"]}
            found = expect(await client.post(f"{stack.url('query')}/holder-lookups", json=params), 200)
            assert url.rsplit("/", 1)[1] in [c["certificate_number"] for c in found["data"]]
            assert all(c["id_number_masked"] != candidate["id_number"] for c in found["data"])


async def test_replayed_approval_issues_nothing_twice(stack: Stack) -> None:
    province = "33"
    clients = [httpx.AsyncClient(base_url=stack.url(s, province), timeout=30) for s in PROVINCIAL_SERVICES]
    try:
        walk = await walk_province(ProvinceClients(province, *clients), stack.token, number=77, candidates=3)
    finally:
        for client in clients:
            await client.aclose()

    # Deliver the approval again, exactly as the relay sent it, and once more as a new event (a re-sent
    # approval): certificates must stay one per candidate.
    database = Path(stack.var_dir) / "db" / f"{province}-recognition.db"
    with sqlite3.connect(database) as connection:
        body, headers = connection.execute(
            "SELECT body, headers FROM outbox_event WHERE event_type = ? AND json_extract(body, '$.subject') = ?",
            (BATCH_RESULTS_APPROVED.type, walk.batch_id),
        ).fetchone()
    resent = json.dumps({**json.loads(body), "id": str(uuid.uuid4())})
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap)
    await producer.start()
    try:
        topic = BATCH_RESULTS_APPROVED.topic(province, stack.topic_root)
        for value in (body.encode(), resent.encode()):
            await producer.send_and_wait(
                topic,
                value,
                key=BATCH_RESULTS_APPROVED.key(province=province, subject=walk.batch_id).encode(),
                headers=[(k, v.encode()) for k, v in json.loads(headers).items()],
            )
    finally:
        await producer.stop()

    official = stack.token(province, "province_official")
    async with (
        httpx.AsyncClient(base_url=stack.url("certificates", province), timeout=30) as certificates,
        httpx.AsyncClient(base_url=stack.url("query"), timeout=30) as query,
    ):

        async def consumed() -> bool:
            with sqlite3.connect(Path(stack.var_dir) / "db" / f"{province}-certificates.db") as connection:
                (processed,) = connection.execute("SELECT count(*) FROM processed_event").fetchone()
            return bool(processed >= 3)  # the first walk of this module, this walk, and the re-sent approval

        await eventually(consumed, what="certificates consumed the replays")
        data = expect(
            await certificates.get("/certificates", params={"batch_id": walk.batch_id}, headers=official), 200
        )
        assert data["count"] == 3
        assert sorted(c["number"][-6:] for c in data["data"]) == ["000001", "000002", "000003"]
        for candidate in walk.candidates:
            holder = {"name": candidate["name"], "id_number": candidate["id_number"]}

            async def ours(holder: dict[str, str] = holder) -> list[dict[str, Any]] | None:
                found = expect(await query.post("/holder-lookups", json=holder), 200)
                # The same person may hold certificates from other walks; from this batch, exactly one.
                mine = [c for c in found["data"] if c["organization_code"] == walk.organization_code]
                return mine or None

            # The lookup is fed through the certificates relay and Kafka: a moment after the certificates exist.
            assert len(await eventually(ours, what="the replayed batch in the shared lookup")) == 1
