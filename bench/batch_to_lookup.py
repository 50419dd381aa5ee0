"""Benchmark: from a province's approval of a batch to every certificate in the public lookup, as deployed.

    .venv/bin/python -m bench.batch_to_lookup --candidates 10000 [--database postgresql]

Starts the suite as `make up` does (infra.stack.Stack: Kafka, Redis, two provinces' four services and the query
service, each its own process on a free port, SQLite files in a temporary var directory, or one PostgreSQL
database per service), waits until the services' consumer groups have stopped rebalancing, files an
organization in Zhejiang (33) and walks one batch of N candidates over the services' HTTP APIs up to the
province's re-check: the plan, the CSV upload, submission, plan approval, the results (5,000 a request),
publicity, report and review. Then it measures from `POST /batches/{id}/approve` to:

- every certificate found in the shared query service (`GET /certificates/{number}` with the partner key, a
  few requests at a time; the numbers are read from the certificates service's database as they are signed);
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
import os
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from infra.servers import PostgresServer
from infra.stack import PROVINCES, PROVINCIAL_SERVICES, Stack
from infra.walkthrough import ProvinceClients, eventually, expect, plan_batch, ready_for_approval
from shared.kernel.credentials import hide_claims
from shared.platform.auth import PARTNER_HEADER

PROVINCE, OTHER = "33", "32"
PROBES_PER_ROUND = 64


@dataclass
class DeployedStack(Stack):
    """The suite as `make up` runs it, with a database URL of its own for the services named in `database_urls`
    (`<service>-<province>`): Stack has no setting for it, so the URL is passed as the service's own setting,
    which comes after Stack's SQLite default."""

    database_urls: dict[str, str] = field(default_factory=dict)

    def _spawn(
        self,
        service: str,
        province: str,
        port: int,
        public_url: str,
        extra: dict[str, str],
        workers: int = 1,
        name: str | None = None,
    ) -> None:
        if url := self.database_urls.get(f"{service}-{province}"):
            extra = {**extra, "DATABASE_URL": url}
        super()._spawn(service, province, port, public_url, extra, workers, name)


def _group_rss_kib() -> dict[int, tuple[int, int]]:
    """Resident memory (KiB) of every process group on the machine: summed over its processes, and its largest."""
    groups: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                pgid = int(stat.read().rsplit(")", 1)[1].split()[2])
            with open(f"/proc/{entry.name}/status") as status:
                rss = next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
        total, largest = groups.get(pgid, (0, 0))
        groups[pgid] = (total + rss, max(largest, rss))
    return groups


class RssSampler:
    """Samples the resident memory of named process groups in a thread; peaks in MB (10^6 bytes), of the group's
    sum and of its largest process (they differ for the query service: uvicorn's supervisor and two workers)."""

    def __init__(self, groups: Callable[[], dict[str, int]], every: float = 0.25) -> None:
        self.groups, self.every = groups, every
        self.peak_kib: dict[str, int] = {}
        self.process_peak_kib: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        rss = _group_rss_kib()
        for name, pgid in self.groups().items():
            if pgid in rss:
                total, largest = rss[pgid]
                self.peak_kib[name] = max(self.peak_kib.get(name, 0), total)
                self.process_peak_kib[name] = max(self.process_peak_kib.get(name, 0), largest)
        self.samples += 1

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def peaks(self, per_process: bool = False) -> dict[str, float]:
        peaks = self.process_peak_kib if per_process else self.peak_kib
        return {name: round(kib * 1024 / 1e6, 1) for name, kib in sorted(peaks.items())}


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


async def all_found(
    query: httpx.AsyncClient,
    certificates: Certificates,
    expected: int,
    concurrency: int,
    within: float,
    started: float,
) -> dict[str, float]:
    """Waits until each of the batch's `expected` certificates has been found once in the public lookup. The
    numbers are read as they are signed and probed in serial order (as they are published), a round at a time:
    a round stops at its first miss and the next starts there, so each certificate costs about one request.
    On the way, when the certificates database first held all of them signed, and then none unpublished (to
    within a round: 0.2 s or more)."""
    deadline = time.monotonic() + within
    milestones: dict[str, float] = {}
    gate = asyncio.Semaphore(concurrency)
    found: set[str] = set()
    requests = 0

    async def probe(number: str) -> bool:
        nonlocal requests
        async with gate:
            requests += 1
            response = await query.get(f"/certificates/{number}")
        if response.status_code not in (200, 404):
            raise AssertionError(f"GET /certificates/{number} -> {response.status_code}: {response.text}")
        return response.status_code == 200

    while len(found) < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {expected} certificates in the public lookup after {within:.0f}s")
        signed = await asyncio.to_thread(certificates.signed_numbers)
        if len(signed) == expected and "approve_to_all_signed_seconds" not in milestones:
            milestones["approve_to_all_signed_seconds"] = round(time.perf_counter() - started, 2)
        if (
            "approve_to_all_signed_seconds" in milestones
            and "approve_to_all_published_seconds" not in milestones
            and await asyncio.to_thread(certificates.unpublished) == 0
        ):
            milestones["approve_to_all_published_seconds"] = round(time.perf_counter() - started, 2)
        pending = [n for n in signed if n not in found]
        missed = not pending
        for start in range(0, len(pending), PROBES_PER_ROUND):
            numbers = pending[start : start + PROBES_PER_ROUND]
            answers = await asyncio.gather(*(probe(n) for n in numbers))
            found.update(n for n, ok in zip(numbers, answers, strict=True) if ok)
            if not all(answers):
                missed = True
                break
        if missed and len(found) < expected:
            await asyncio.sleep(0.2)
    return {**milestones, "lookup_requests": requests}


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


async def approve_and_measure(
    stack: Stack, candidates: int, certificates_url: str, concurrency: int, within: float, settle: bool = True
) -> dict[str, Any]:
    figures: dict[str, Any] = {"settle_seconds": round(await consumers_settled(stack), 1) if settle else None}
    async with province_clients(stack, PROVINCE, seconds=max(120.0, candidates / 100)) as walk:
        batch, figures["walk_to_approval_seconds"] = await walk_to_approval(stack, walk, candidates)
        certificates = Certificates(certificates_url, batch["id"])
        official = stack.token(PROVINCE, "province_official")
        partner = {PARTNER_HEADER: stack.partner_key()}
        async with httpx.AsyncClient(base_url=stack.url("query"), timeout=60, headers=partner) as query:
            started = time.perf_counter()
            expect(await walk.recognition.post(f"/batches/{batch['id']}/approve", headers=official), 200)
            figures["approve_request_seconds"] = round(time.perf_counter() - started, 2)
            verification = asyncio.create_task(
                verified_elsewhere(stack, certificates, batch["organization_code"], started, within)
            )
            try:
                figures |= await all_found(query, certificates, candidates, concurrency, within, started)
                figures["approve_to_all_found_seconds"] = round(time.perf_counter() - started, 2)
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
        stack = DeployedStack(
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
            certificates_url = urls.get(f"certificates-{PROVINCE}") or (
                f"sqlite:///{stack.var_dir / 'db' / f'{PROVINCE}-certificates.db'}"
            )
            with (
                RssSampler(lambda: service_groups(stack)) as services,
                RssSampler(lambda: server_groups(stack, postgres), every=1.0) as servers,
            ):
                figures |= asyncio.run(
                    approve_and_measure(stack, candidates, certificates_url, concurrency, within, settle)
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
