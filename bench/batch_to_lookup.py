"""Benchmark: from a province's approval of a batch to every certificate in the public lookup, as deployed.

    .venv/bin/python -m bench.batch_to_lookup --candidates 10000 [--database postgresql]

Starts the suite as `make up` does (infra.stack.Stack: Kafka, Redis, two provinces' four services and the query
service, each its own process on a free port, SQLite files in a temporary var directory, or one PostgreSQL
database per service), waits until the services' consumer groups have stopped rebalancing, files an
organization in Zhejiang (33) and walks one batch of N candidates over the services' HTTP APIs up to the
province's re-check: the plan, the CSV upload, submission, plan approval, the results (5,000 a request),
publicity, report and review. Then it measures from `POST /batches/{id}/approve` to:

- every certificate applied to the shared query service's read model (the projector's committed offsets on
  Zhejiang's `certificate issued` topic), then, untimed, each one looked up once (`GET /certificates/{number}`
  with the partner key): all must be found;
- one of them verified from the other province: its credential (ID number hidden) verified by Jiangsu's (32)
  certificates service (`POST /verify`: integrity, signature, status and filing all learned from events), and
  by the public `POST /verifications` of the query service.

Every service's resident memory (VmRSS summed over its process group: uvicorn and its workers) is sampled
through the run; the peak per service is reported. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import create_engine, text

from bench.system import RssSampler, cpu_seconds
from infra.servers import PostgresServer
from infra.stack import PROVINCES, PROVINCIAL_SERVICES, Stack
from infra.walkthrough import ProvinceClients, eventually, expect, plan_batch, ready_for_approval
from services.query import flows as query_flows
from shared.kernel.credentials import hide_claims
from shared.kernel.events import CERTIFICATE_ISSUED
from shared.platform.auth import PARTNER_HEADER
from shared.platform.bus import group_id, instance_consumer

PROVINCE, OTHER = "33", "32"


def service_groups(stack: Stack) -> dict[str, int]:
    """The process group of each service (its uvicorn process leads one: ManagedProcess starts a new session)."""
    return {
        name: service.proc.process.pid
        for name, service in stack.services.items()
        if service.proc.process is not None and service.proc.alive()
    }


def server_groups(stack: Stack, postgres: PostgresServer | None) -> dict[str, int]:
    servers = {"kafka": stack._kafka, "redis": stack._redis, "postgres": postgres}
    return {
        name: server.proc.process.pid
        for name, server in servers.items()
        if server is not None and server.proc is not None and server.proc.process is not None
    }


class Certificates:
    """What an operator reads in the certificates database of the province about one batch."""

    def __init__(self, url: str, batch_id: str) -> None:
        self.engine = create_engine(url, pool_size=1, max_overflow=0)
        self.batch_id = batch_id

    def all_parts_issued(self) -> bool:
        """Whether every part of the batch is issued (numbered, signed, its events stored): one row, read each round
        (reading the issued numbers each round cost the database more than the batch's issuing at 100,000)."""
        sql = text("select parts, received_parts from batch_issue where batch_id = :b")
        with self.engine.connect() as connection:
            row = connection.execute(sql, {"b": self.batch_id}).first()
        if row is None:
            return False
        received = row[1] if isinstance(row[1], list) else json.loads(row[1])
        return bool(len(received) == row[0])

    def signed_numbers(self) -> list[str]:
        sql = text("select number from certificate where batch_id = :b and signed_batch_id is not null order by number")
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(sql, {"b": self.batch_id})]

    def unpublished(self) -> int:
        """`certificate issued` events in the outbox that the relay has not published yet."""
        sql = text(
            "select count(*) from outbox_event where event_type = 'certificates.certificate-issued' and sent_at is null"
        )
        with self.engine.connect() as connection:
            return int(connection.execute(sql).scalar() or 0)

    def first_number(self) -> str | None:
        sql = text("select min(number) from certificate where batch_id = :b and signed_batch_id is not null")
        with self.engine.connect() as connection:
            value = connection.execute(sql, {"b": self.batch_id}).scalar()
        return str(value) if value else None


REBALANCE_LINES = ("assigned to partitions", "rebalanc")


async def consumers_settled(stack: Stack, quiet: float = 8, within: float = 180) -> float:
    """Waits until no service has logged a consumer group assignment or rebalance for `quiet` seconds; the seconds
    it took. `Stack.start` returns once a service answers /readyz, while the query service's second worker is
    still joining its consumer groups one after another, each join a rebalance of the group that holds up its
    consumption for a few seconds: measured from then, a small batch would time those rebalances. (The broker's
    own view, DescribeGroups through aiokafka's admin client, had the broker close the connection.)"""
    started = time.perf_counter()
    deadline = time.monotonic() + within
    logs = [service.proc.log_path for service in stack.services.values()]
    seen: dict[Path, int] = {}
    last_change = time.monotonic()
    while time.monotonic() - last_change < quiet:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the services' consumer groups still rebalancing after {within:.0f}s")
        for log in logs:
            text_ = log.read_text(errors="replace") if log.exists() else ""
            count = sum(text_.count(line) for line in REBALANCE_LINES)
            if seen.get(log) != count:
                seen[log], last_change = count, time.monotonic()
        await asyncio.sleep(0.5)
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def province_clients(stack: Stack, province: str, seconds: float) -> AsyncIterator[ProvinceClients]:
    clients = [httpx.AsyncClient(base_url=stack.url(s, province), timeout=seconds) for s in PROVINCIAL_SERVICES]
    try:
        yield ProvinceClients(province, *clients)
    finally:
        for client in clients:
            await client.aclose()


async def walk_to_approval(stack: Stack, walk: ProvinceClients, candidates: int) -> tuple[dict[str, Any], float]:
    """A batch of `candidates` who all pass, taken to the province's re-check (the walkthrough's steps); the batch
    and the walk's seconds."""
    started = time.perf_counter()
    batch = await plan_batch(walk, stack.token, number=1, candidates=candidates)
    batch = await ready_for_approval(walk.recognition, batch, stack.token, PROVINCE)
    return batch, time.perf_counter() - started


class ReadModelProgress:
    """How far the query projector has applied Zhejiang's `certificate issued` events: its group for that topic
    commits a fetched batch's offsets once the batch is in Redis, so committed offsets at the topic's end mean every
    certificate of it is in the read model. Read through the broker, as `services/query/rebuild.py` reads a
    rebuild's: no lookups, so the measurement is not bounded by how fast this process can send them."""

    def __init__(self, bootstrap: str, root: str, read_model_id: str) -> None:
        self.topic = CERTIFICATE_ISSUED.topic(PROVINCE, root)
        # The query service's groups are named for its home province (33) and its read model.
        self.group = group_id(
            root=root,
            province=PROVINCE,
            consumer=instance_consumer(query_flows.consumer.name, read_model_id),
            contract=CERTIFICATE_ISSUED,
        )
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> ReadModelProgress:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def applied(self, expected: int) -> bool:
        """Whether `expected` events are on the topic and the group has committed all of them."""
        [described] = await self.admin.describe_topics([self.topic])
        partitions = [TopicPartition(self.topic, p["partition"]) for p in described["partitions"]]
        if not partitions:
            return False
        ends = await self.consumer.end_offsets(partitions)
        if sum(ends.values()) < expected:
            return False
        committed = await self.admin.list_consumer_group_offsets(self.group)
        return all(tp in committed and committed[tp].offset >= end for tp, end in ends.items())


async def all_found(
    query: httpx.AsyncClient,
    certificates: Certificates,
    progress: ReadModelProgress,
    expected: int,
    concurrency: int,
    within: float,
    started: float,
    cpu: Callable[[], dict[str, float]] = dict,
) -> dict[str, Any]:
    """Seconds from the approval until each of the batch's `expected` certificates was signed, none was left
    unpublished in the outbox (both read in the certificates database, to within a round: 0.2 s or more), and all
    were applied to the read model (the projector's committed offsets), when `cpu()` is read too. Then, untimed,
    each certificate is looked up once (`GET /certificates/{number}`, `concurrency` in flight): all must be found."""
    deadline = time.monotonic() + within
    milestones: dict[str, Any] = {}
    while "approve_to_all_found_seconds" not in milestones:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {expected} certificates in the read model after {within:.0f}s: {milestones}")
        if "approve_to_all_signed_seconds" not in milestones:
            if await asyncio.to_thread(certificates.all_parts_issued):
                milestones["approve_to_all_signed_seconds"] = round(time.perf_counter() - started, 2)
        elif "approve_to_all_published_seconds" not in milestones and (
            await asyncio.to_thread(certificates.unpublished) == 0
        ):
            milestones["approve_to_all_published_seconds"] = round(time.perf_counter() - started, 2)
        if await progress.applied(expected):
            milestones["approve_to_all_found_seconds"] = round(time.perf_counter() - started, 2)
            milestones["cpu_at_found"] = cpu()
            milestones.setdefault("approve_to_all_signed_seconds", milestones["approve_to_all_found_seconds"])
            milestones.setdefault("approve_to_all_published_seconds", milestones["approve_to_all_found_seconds"])
        else:
            await asyncio.sleep(0.2)

    signed = await asyncio.to_thread(certificates.signed_numbers)  # once, after: the numbers to look up
    if len(signed) != expected:
        raise AssertionError(f"{len(signed)} certificates signed, {expected} applied to the read model")
    gate = asyncio.Semaphore(concurrency)

    async def found(number: str) -> bool:
        async with gate:
            response = await query.get(f"/certificates/{number}")
        if response.status_code not in (200, 404):
            raise AssertionError(f"GET /certificates/{number} -> {response.status_code}: {response.text}")
        return response.status_code == 200

    confirming = time.perf_counter()
    missing: list[str] = []
    for start in range(0, len(signed), 1000):
        numbers = signed[start : start + 1000]
        answers = await asyncio.gather(*(found(n) for n in numbers))
        missing += [n for n, ok in zip(numbers, answers, strict=True) if not ok]
    if missing:
        raise AssertionError(f"{len(missing)} applied certificates not found, e.g. {missing[:3]}")
    milestones["lookup_requests"] = len(signed)
    milestones["lookups_per_second"] = round(len(signed) / (time.perf_counter() - confirming), 1)
    return milestones


async def verified_elsewhere(
    stack: Stack, certificates: Certificates, organization: str, started: float, within: float
) -> dict[str, Any]:
    """The first certificate's credential, ID number hidden, verified by the other province's certificates
    service and by the public verification; seconds from the approval until each answered verified."""
    deadline = time.monotonic() + within
    operator = stack.token(PROVINCE, "org_operator", organization)
    result: dict[str, Any] = {}
    async with (
        httpx.AsyncClient(base_url=stack.url("certificates", PROVINCE), timeout=60) as issuer,
        httpx.AsyncClient(base_url=stack.url("certificates", OTHER), timeout=60) as other,
        httpx.AsyncClient(base_url=stack.url("query"), timeout=60) as query,
    ):
        while (number := await asyncio.to_thread(certificates.first_number)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("no certificate signed")
            await asyncio.sleep(0.5)
        document = expect(await issuer.get(f"/certificates/{number}/credential", headers=operator), 200)
        shared = hide_claims(document, ["idNumber"])
        result["verified_number"] = number
        for name, client, path in (("other_province", other, "/verify"), ("public", query, "/verifications")):

            async def verdict(client: httpx.AsyncClient = client, path: str = path) -> dict[str, Any] | None:
                answer = expect(await client.post(path, json=shared), 200)
                return answer if answer["verified"] is not None else None

            answer = await eventually(verdict, within=max(1.0, deadline - time.monotonic()), what=f"{path} answers")
            if answer["verified"] is not True:
                raise AssertionError(f"{path} did not verify {number}: {answer}")
            result[f"verified_{name}_seconds"] = round(time.perf_counter() - started, 2)
    return result


async def query_model(stack: Stack) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url("query"), timeout=30) as client:
        return await client.get("/read-model")


async def approve_and_measure(
    stack: Stack,
    candidates: int,
    certificates_url: str,
    concurrency: int,
    within: float,
    settle: bool = True,
    processes: Callable[[], dict[str, int]] = dict,
) -> dict[str, Any]:
    """Walks a batch to the approval and measures from it; `processes` names the process groups whose CPU time
    from the approval until all found is reported (`cpu_seconds`)."""
    figures: dict[str, Any] = {"settle_seconds": round(await consumers_settled(stack), 1) if settle else None}
    async with province_clients(stack, PROVINCE, seconds=max(120.0, candidates / 100)) as walk:
        batch, figures["walk_to_approval_seconds"] = await walk_to_approval(stack, walk, candidates)
        certificates = Certificates(certificates_url, batch["id"])
        official = stack.token(PROVINCE, "province_official")
        partner = {PARTNER_HEADER: stack.partner_key()}
        async with (
            httpx.AsyncClient(base_url=stack.url("query"), timeout=60, headers=partner) as query,
            ReadModelProgress(
                stack.kafka_bootstrap or "", stack.topic_root, expect(await query_model(stack), 200)["id"]
            ) as progress,
        ):
            cpu_before = cpu_seconds(processes())
            started = time.perf_counter()
            expect(await walk.recognition.post(f"/batches/{batch['id']}/approve", headers=official), 200)
            figures["approve_request_seconds"] = round(time.perf_counter() - started, 2)
            verification = asyncio.create_task(
                verified_elsewhere(stack, certificates, batch["organization_code"], started, within)
            )
            try:
                figures |= await all_found(
                    query,
                    certificates,
                    progress,
                    candidates,
                    concurrency,
                    within,
                    started,
                    cpu=lambda: cpu_seconds(processes()),
                )
                figures["cpu_seconds"] = {
                    name: round(used - cpu_before.get(name, 0.0), 1)
                    for name, used in sorted(figures.pop("cpu_at_found").items())
                }
                figures |= await verification
            finally:
                verification.cancel()
                certificates.engine.dispose()
    figures["approve_to_done_seconds"] = max(
        figures["approve_to_all_found_seconds"], figures["verified_other_province_seconds"]
    )
    figures["certificates_per_second"] = round(candidates / figures["approve_to_all_found_seconds"], 1)
    figures["walk_to_approval_seconds"] = round(figures["walk_to_approval_seconds"], 2)
    return figures


@contextlib.contextmanager
def _postgres(base: Path, database: str) -> Iterator[PostgresServer | None]:
    if database != "postgresql":
        yield None
        return
    server = PostgresServer(base / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run(
    candidates: int = 10_000,
    *,
    database: str = "sqlite",
    concurrency: int = 8,
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
    within: float | None = None,
    keep: Path | None = None,
    settle: bool = True,
) -> dict[str, Any]:
    """Starts the suite (its own Kafka and Redis unless given), runs one batch, stops everything; the figures.
    With `keep`, the suite's var directory (logs, databases) is made there and kept. Without `settle`, the walk
    starts as soon as the suite is ready, its consumer groups still rebalancing (for a smoke run only)."""
    within = within if within is not None else 300 + candidates / 50
    figures: dict[str, Any] = {"candidates": candidates, "database": database}
    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp, _postgres(keep or Path(tmp), database) as postgres:
        base = keep or Path(tmp)
        urls = (
            {
                f"{service}-{province}": postgres.create_database(f"{province}_{service}")
                for province in PROVINCES
                for service in PROVINCIAL_SERVICES
            }
            if postgres
            else {}
        )
        stack = Stack(
            var_dir=base / "var",
            fixed_ports=False,
            kafka_bootstrap=kafka_bootstrap,
            redis_url=redis_url,
            topic_root=f"bench{uuid.uuid4().hex[:8]}",
            database_urls=urls,
        )
        try:
            started = time.perf_counter()
            stack.start()
            figures["stack_start_seconds"] = round(time.perf_counter() - started, 1)
            certificates_url = stack.database_url("certificates", PROVINCE)
            with (
                RssSampler(lambda: service_groups(stack)) as services,
                RssSampler(lambda: server_groups(stack, postgres), every=1.0) as servers,
            ):
                figures |= asyncio.run(
                    approve_and_measure(
                        stack,
                        candidates,
                        certificates_url,
                        concurrency,
                        within,
                        settle,
                        processes=lambda: service_groups(stack) | server_groups(stack, postgres),
                    )
                )
            figures["peak_rss_mb"] = services.peaks()
            figures["max_service_rss_mb"] = max(figures["peak_rss_mb"].values())
            figures["max_process_rss_mb"] = max(services.peaks(per_process=True).values())
            figures["servers_peak_rss_mb"] = servers.peaks()
            figures["rss_samples"] = services.samples
        finally:
            stack.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--concurrency", type=int, default=8, help="lookups in flight at once")
    parser.add_argument("--within", type=float, default=None, help="seconds allowed from the approval")
    parser.add_argument("--keep", type=Path, default=None, help="make the suite's var directory here and keep it")
    args = parser.parse_args()
    figures = run(
        args.candidates, database=args.database, concurrency=args.concurrency, within=args.within, keep=args.keep
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
