"""Benchmark: the public lookup against its ceiling, and issuance-to-queryable lag through the certificates outbox.

    .venv/bin/python -m bench.query --certificates 10000 --seconds 15 --rounds 3 --workers 2 --connections 32

Starts its own Kafka and Redis (the launcher of `make up`). Part 1 loads Redis with N certificates through
the query service's own store, then, in the same run and with the same uvicorn workers, drives three sides
with wrk in interleaved rounds (medians reported): a bare FastAPI app whose one route GETs a key from Redis
and returns it (the ceiling); the real query service as deployed (`make up`: `uvicorn --workers N` with
`QUERY_ROLE=serve`, which only reads Redis, beside one projector process, `QUERY_ROLE=project`, consuming the
events), `GET /certificates/{number}` from one client address (the busy client: fair use in leases); and the
same from `--clients` distinct addresses (10,000), named in X-Forwarded-For by wrk as a reverse proxy would
(127.0.0.1 is the bench's trusted proxy), where nearly every lookup is a client's first and takes a lease.
Part 2 issues certificates through a real certificates service of province 33 (its own process, its outbox
relay publishing): one `batch results approved` event of one candidate at a time, at a steady rate, each timed
from its publication until the query service finds the candidate's certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from bench import certificate_batch
from bench.system import own_servers, spawn, stop
from infra.servers import free_port
from shared.kernel.clock import Clock
from shared.kernel.events import (
    BATCH_RESULTS_APPROVED,
    CERTIFICATE_ISSUED,
    BatchResultsApproved,
    CertificateIssued,
    PassedCandidate,
)
from shared.kernel.numbering import CertificateNumber
from shared.platform.auth import PARTNER_HEADER, ensure_dev_keys

ROOT = "skillcert"
PREFIX = "bench:"
ID_HASH_KEY = "bench-id-hash-key"
PARTNER_KEY = "bench-partner-key"
# Every request is counted, in the deployed shape (a per-minute and a per-day limit): the bench's addresses must
# not reach them.
LOOKUP_LIMITS = "100000000/minute;100000000/day"


def certificate(province: str, serial: int) -> CertificateIssued:
    number = f"S0000{province}000001264{serial:06d}"
    CertificateNumber.parse(number)
    return CertificateIssued(
        certificate_number=number,
        holder_name="张伟",
        id_type="resident_id",
        id_number=f"{province}0106199001010011",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=4,
        level_title="四级/中级工",
        organization_code=f"S0000{province}000001",
        organization_name="机械行业协会技能评价中心",
        province=province,
        issued_on=Clock().today(),
        batch_id=f"bench-{province}",
    )


def wait_http(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


def wrk(url: str, numbers_file: Path, seconds: int, connections: int, clients: int = 0) -> dict[str, float]:
    """One wrk run over random numbers of `numbers_file`; from `clients` distinct X-Forwarded-For addresses if any."""
    script = Path(__file__).with_name("query_numbers.lua")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        env={**os.environ, "NUMBERS_FILE": str(numbers_file), "CLIENTS": str(clients)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "errors": float(non_2xx.group(1)) if non_2xx else 0}


async def load(redis_url: str, count: int, prefix: str = PREFIX) -> list[str]:
    from services.query.store import CertificateStore

    redis = Redis.from_url(redis_url)
    store = CertificateStore(redis, ID_HASH_KEY.encode(), prefix)
    numbers = []
    for serial in range(1, count + 1):
        issued = certificate(random.choice(["31", "32", "33"]), serial)
        await store.apply_issued(issued)
        await redis.set(
            f"{prefix}bare:{issued.certificate_number}",
            await redis.get(store.key("cert", issued.certificate_number)) or b"",
        )
        numbers.append(issued.certificate_number)
    await redis.aclose()
    return numbers


def approval(serial: int) -> BatchResultsApproved:
    """A batch of one candidate, approved: as recognition sends it."""
    [part] = certificate_batch.parts(f"lag-{uuid.uuid4().hex[:12]}", 1, first=serial)
    return part


async def lag(bootstrap: str, query_url: str, count: int, rate: float, root: str = ROOT) -> list[dict[str, Any]]:
    """For each one-candidate approval published: its event id, the certificate's number, when it was published and
    when the query service first found the candidate's certificate (epoch seconds). On the way: numbered and signed
    by the certificates service, stored with its event, published by the outbox relay, applied by the projector,
    served by a worker."""
    broker = KafkaBroker(bootstrap)
    await broker.start()
    found: list[dict[str, Any]] = []
    topic = BATCH_RESULTS_APPROVED.topic("33", root)
    headers = {PARTNER_HEADER: PARTNER_KEY}  # polled every few ms: a public client would be limited
    async with httpx.AsyncClient(base_url=query_url, timeout=10, headers=headers) as client:

        async def watch(event_id: str, candidate: PassedCandidate, sent: float) -> None:
            body = {"name": candidate.name, "id_number": candidate.id_number}
            while True:  # polls every 5 ms: the lag is known to within that
                answer = await client.post("/holder-lookups", json=body)
                if answer.status_code == 200 and answer.json()["count"]:
                    seen = time.time()
                    number = answer.json()["data"][0]["certificate_number"]
                    found.append({"event_id": event_id, "number": number, "sent": sent, "found": seen})
                    assert (await client.get(f"/certificates/{number}")).status_code == 200
                    return
                await asyncio.sleep(0.005)

        watchers = []
        for serial in range(900_001, 900_001 + count):
            part = approval(serial)
            envelope = BATCH_RESULTS_APPROVED.make(province="33", subject=part.batch_id, payload=part)
            key = BATCH_RESULTS_APPROVED.key(province="33", subject=part.batch_id)
            sent = time.time()
            await broker.publish(envelope.model_dump_json().encode(), topic=topic, key=key.encode())
            watchers.append(asyncio.create_task(watch(str(envelope.id), part.passed[0], sent)))
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(asyncio.gather(*watchers), 120)
    await broker.stop()
    return found


def lag_stages(found: list[dict[str, Any]], database: Path) -> dict[str, dict[str, float]]:
    """Where each lag went, from the certificates service's database: the approval's event recorded as processed
    (its transaction: fetched, numbered, signed, the certificate's event stored), the certificate's event marked
    sent by the outbox relay (published and acknowledged), found by the query service. Milliseconds from the
    approval's publication, percentiles over the sample."""

    def epoch(value: str) -> float:
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()

    with contextlib.closing(sqlite3.connect(database)) as db:
        processed = {
            uuid.UUID(event_id).hex: epoch(at)
            for event_id, at in db.execute("SELECT event_id, processed_at FROM processed_event")
        }
        published = {
            key: (epoch(created), epoch(sent))
            for key, created, sent in db.execute(
                "SELECT key, created_at, sent_at FROM outbox_event WHERE event_type = 'certificates.certificate-issued'"
            )
            if sent is not None
        }
    stages: dict[str, list[float]] = {"processed": [], "event_stored": [], "published": [], "found": []}
    for entry in found:
        if (done := processed.get(uuid.UUID(entry["event_id"]).hex)) is None or entry["number"] not in published:
            continue
        created, sent = published[entry["number"]]
        for name, at in (
            ("processed", done),
            ("event_stored", created),
            ("published", sent),
            ("found", entry["found"]),
        ):
            stages[name].append((at - entry["sent"]) * 1000)
    return {
        name: {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1), "count": len(values)}
        for name, values in stages.items()
        if len(values) > 1
    }


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(
    certificates: int = 10_000,
    *,
    seconds: int = 15,
    rounds: int = 3,
    workers: int = 2,
    connections: int = 32,
    clients: int = 10_000,
    lag_certificates: int = 300,
    lag_rate: float = 10.0,
    warm_up: int = 3,
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Runs both parts (on its own Kafka and Redis unless given them: a topic root and key prefix of its own keep
    a shared broker and Redis apart); the report. `clients` 0 leaves the distinct-clients side out."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run `make deps` (as root) or apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    processes: list[subprocess.Popen[bytes]] = []
    servers_started = contextlib.ExitStack()
    try:
        servers = servers_started.enter_context(
            own_servers(work, kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, root=ROOT, prefix=PREFIX)
        )
        kafka_bootstrap, redis_url, root, prefix = (
            servers.kafka_bootstrap,
            servers.redis_url,
            servers.root,
            servers.prefix,
        )
        # The provinces' topics exist before the query service subscribes (as the certificates services ensure).
        asyncio.run(_ensure_topics(kafka_bootstrap, root))
        numbers = asyncio.run(load(redis_url, certificates, prefix))
        numbers_file = work / "numbers.txt"
        numbers_file.write_text("\n".join(numbers) + "\n")
        common = {"QUERY_REDIS_URL": redis_url, "QUERY_REDIS_PREFIX": prefix}
        bare_port, query_port, projector_port, certificates_port = (free_port() for _ in range(4))
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log"]
        processes.append(
            spawn(
                [*uvicorn, "--workers", str(workers), "--port", str(bare_port), "bench.query_bare:app"],
                common,
                work / "bare.log",
            )
        )
        # As `make up` runs it (infra/stack.py): one projector process, and the lookups in serve-role workers.
        query = {
            **common,
            "QUERY_PROVINCE": "33",
            "QUERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "QUERY_TOPIC_ROOT": root,
            "QUERY_ID_HASH_KEY": ID_HASH_KEY,
            "QUERY_TRACE_SAMPLE_RATIO": "0.01",  # as deployed (docs/query.md)
            "QUERY_LOOKUP_LIMITS": LOOKUP_LIMITS,
            "QUERY_MISS_LIMITS": "100000000/minute",
        }
        factory = ["--factory", "services.query.app:create", "--no-proxy-headers"]
        processes.append(
            spawn(
                [*uvicorn, "--port", str(projector_port), *factory],
                {**query, "QUERY_ROLE": "project"},
                work / "query-projector.log",
            )
        )
        processes.append(
            spawn(
                [*uvicorn, "--workers", str(workers), "--port", str(query_port), *factory],
                {
                    **query,
                    "QUERY_ROLE": "serve",
                    # The bench's wrk stands for a reverse proxy on loopback: its X-Forwarded-For names the client.
                    "QUERY_TRUSTED_PROXIES": '["127.0.0.1"]',
                    "QUERY_PARTNER_KEYS": json.dumps([PARTNER_KEY]),  # the lag's polling only
                },
                work / "query.log",
            )
        )
        # Province 33's certificates service, for the lag: issues through its outbox (as `make up` runs it).
        ensure_dev_keys(work / "keys", "33")
        processes.append(
            spawn(
                [*uvicorn, "--port", str(certificates_port), "--factory", "services.certificates.app:create"],
                {
                    "CERTIFICATES_PROVINCE": "33",
                    "CERTIFICATES_KAFKA_BOOTSTRAP": kafka_bootstrap,
                    "CERTIFICATES_KEYS_DIR": str(work / "keys"),
                    "CERTIFICATES_TOPIC_ROOT": root,
                    "CERTIFICATES_DATABASE_URL": f"sqlite:///{work / 'certificates-33.db'}",
                    "CERTIFICATES_PUBLIC_BASE_URL": f"http://127.0.0.1:{query_port}",
                },
                work / "certificates-33.log",
            )
        )
        wait_http(f"http://127.0.0.1:{bare_port}/bare/{numbers[0]}")
        wait_http(f"http://127.0.0.1:{projector_port}/readyz")
        wait_http(f"http://127.0.0.1:{query_port}/readyz")
        sides = {
            "bare": (f"http://127.0.0.1:{bare_port}/bare/", 0),
            "lookup": (f"http://127.0.0.1:{query_port}/certificates/", 0),
        }
        if clients:
            sides["lookup_clients"] = (f"http://127.0.0.1:{query_port}/certificates/", clients)
        for url, side_clients in sides.values():
            wrk(url, numbers_file, warm_up, connections, side_clients)
        # Rounds rotate which side goes first, so a drift in the machine's speed weighs on every side alike.
        runs: list[dict[str, dict[str, float]]] = []
        names = list(sides)
        for round_number in range(rounds):
            order = names[round_number % len(names) :] + names[: round_number % len(names)]
            if round_number % 2:
                order.reverse()
            runs.append(
                {name: wrk(sides[name][0], numbers_file, seconds, connections, sides[name][1]) for name in order}
            )
        results = {
            name: {
                measure: statistics.median(r[name][measure] for r in runs) for measure in ("rps", "p99_ms", "errors")
            }
            for name in sides
        }
        wait_http(f"http://127.0.0.1:{certificates_port}/readyz")
        found = asyncio.run(lag(kafka_bootstrap, f"http://127.0.0.1:{query_port}", lag_certificates, lag_rate, root))
        lags = [entry["found"] - entry["sent"] for entry in found]
        report: dict[str, Any] = {"certificates": certificates, "workers": workers, "connections": connections}
        report |= {name: results[name] for name in sides}
        report["ratio"] = round(statistics.median(r["lookup"]["rps"] / r["bare"]["rps"] for r in runs), 3)
        if clients:
            report["clients"] = clients
            report["ratio_clients"] = round(
                statistics.median(r["lookup_clients"]["rps"] / r["bare"]["rps"] for r in runs), 3
            )
        report["rounds"] = [
            {name: f"{r[name]['rps']:.0f} req/s, p99 {r[name]['p99_ms']:.1f} ms" for name in sides}
            | {f"ratio_{name}": round(r[name]["rps"] / r["bare"]["rps"], 3) for name in sides if name != "bare"}
            for r in runs
        ]
        report["lag_ms"] = {
            "p50": round(percentile(lags, 50) * 1000, 1),
            "p90": round(percentile(lags, 90) * 1000, 1),
            "p99": round(percentile(lags, 99) * 1000, 1),
            "max": round(max(lags) * 1000, 1),
            "count": len(lags),
        }
        report["lag_stages_ms"] = lag_stages(found, work / "certificates-33.db")
        return report
    finally:
        for process in processes:
            stop(process, within=20)
        servers_started.close()
        if os.environ.get("BENCH_QUERY_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, interleaved; medians reported")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--clients", type=int, default=10_000, help="distinct addresses of the third side (0: none)")
    parser.add_argument("--lag-certificates", type=int, default=300)
    parser.add_argument("--lag-rate", type=float, default=10.0, help="one-candidate approvals published per second")
    parser.add_argument("--warm-up", type=int, default=3, help="seconds of wrk on each side before the rounds")
    options = parser.parse_args()
    report = run(
        options.certificates,
        seconds=options.seconds,
        rounds=options.rounds,
        workers=options.workers,
        connections=options.connections,
        clients=options.clients,
        lag_certificates=options.lag_certificates,
        lag_rate=options.lag_rate,
        warm_up=options.warm_up,
    )
    print(json.dumps(report, indent=2))


async def _ensure_topics(bootstrap: str, root: str = ROOT) -> None:
    from shared.platform.bus import ensure_topics

    issued = [CERTIFICATE_ISSUED.topic(province, root) for province in ("31", "32", "33")]
    # And recognition's approvals, which the lag's certificates service consumes.
    approved = BATCH_RESULTS_APPROVED.topic("33", root)
    await ensure_topics(
        bootstrap,
        [*issued, approved],
        partitions=3,
        replication=1,
        client_id="bench",
        configs=dict.fromkeys(issued, CERTIFICATE_ISSUED.topic_config),
    )


if __name__ == "__main__":
    main()
