"""Benchmark: the public lookup against its ceiling, and issue-to-queryable lag across provinces.

    .venv/bin/python -m bench.query --certificates 10000 --seconds 15 --rounds 3 --workers 2 --connections 32

Starts its own Kafka and Redis (the launcher of `make up`). Part 1 loads Redis with N certificates through
the query service's own store, then, in the same run and with the same uvicorn workers, drives two servers
with wrk in interleaved rounds (medians reported): a bare FastAPI app whose one route GETs a key from Redis
and returns it (the ceiling), and the real query service (`GET /certificates/{number}` as deployed: fair
use counted in Redis in leases, the stored view read with one GET and sent as stored, 1% of requests
traced, Kafka consumers running). Part 2 publishes certificate-issued events for provinces 31, 32 and 33
at a steady rate and measures, per certificate, from its publication until the running query service
answers 200 for it.
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
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from redis.asyncio import Redis

from infra.servers import KafkaServer, RedisServer, free_port
from shared.kernel.clock import Clock
from shared.kernel.events import CERTIFICATE_ISSUED, CertificateIssued
from shared.kernel.numbering import CertificateNumber

ROOT = "skillcert"
PREFIX = "bench:"
ID_HASH_KEY = "bench-id-hash-key"


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


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, env={**os.environ, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
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


def wrk(url: str, numbers_file: Path, seconds: int, connections: int) -> dict[str, float]:
    script = Path(__file__).with_name("query_numbers.lua")
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        env={**os.environ, "NUMBERS_FILE": str(numbers_file)},
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


async def lag(bootstrap: str, query_url: str, count: int, rate: float, root: str = ROOT) -> list[float]:
    """Seconds from publishing each certificate-issued event until the query service answers for it."""
    broker = KafkaBroker(bootstrap)
    await broker.start()
    lags: list[float] = []
    async with httpx.AsyncClient(base_url=query_url, timeout=10) as client:

        async def watch(number: str, sent: float) -> None:
            while True:  # polls every 5 ms: the lag is known to within that
                if (await client.get(f"/certificates/{number}")).status_code == 200:
                    lags.append(time.monotonic() - sent)
                    return
                await asyncio.sleep(0.005)

        watchers = []
        for serial in range(900_001, 900_001 + count):
            province = ("31", "32", "33")[serial % 3]
            issued = certificate(province, serial)
            envelope = CERTIFICATE_ISSUED.make(province=province, subject=issued.certificate_number, payload=issued)
            sent = time.monotonic()
            await broker.publish(
                envelope.model_dump_json().encode(),
                topic=CERTIFICATE_ISSUED.topic(province, root),
                key=issued.certificate_number.encode(),
            )
            watchers.append(asyncio.create_task(watch(issued.certificate_number, sent)))
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(asyncio.gather(*watchers), 120)
    await broker.stop()
    return lags


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(
    certificates: int = 10_000,
    *,
    seconds: int = 15,
    rounds: int = 3,
    workers: int = 2,
    connections: int = 32,
    lag_certificates: int = 300,
    lag_rate: float = 30.0,
    warm_up: int = 3,
    kafka_bootstrap: str | None = None,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """Runs both parts (on its own Kafka and Redis unless given them: a topic root and key prefix of its own keep
    a shared broker and Redis apart); the report."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run `make deps` (as root) or apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    kafka = KafkaServer(work / "kafka") if kafka_bootstrap is None else None
    redis = RedisServer(work / "redis") if redis_url is None else None
    shared = kafka is None or redis is None
    root = f"bench{uuid.uuid4().hex[:8]}" if shared else ROOT
    prefix = f"{root}:{PREFIX}" if shared else PREFIX
    processes: list[subprocess.Popen[bytes]] = []
    try:
        if kafka is not None:
            kafka.start()
            kafka_bootstrap = kafka.bootstrap
        if redis is not None:
            redis.start()
            redis_url = redis.url
        assert kafka_bootstrap is not None and redis_url is not None
        # The provinces' topics exist before the query service subscribes (as the certificates services ensure).
        asyncio.run(_ensure_topics(kafka_bootstrap, root))
        numbers = asyncio.run(load(redis_url, certificates, prefix))
        numbers_file = work / "numbers.txt"
        numbers_file.write_text("\n".join(numbers) + "\n")
        common = {"QUERY_REDIS_URL": redis_url, "QUERY_REDIS_PREFIX": prefix}
        bare_port, query_port = free_port(), free_port()
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--workers", str(workers), "--no-access-log"]
        processes.append(spawn([*uvicorn, "--port", str(bare_port), "bench.query_bare:app"], common, work / "bare.log"))
        processes.append(
            spawn(
                [*uvicorn, "--port", str(query_port), "--factory", "services.query.app:create"],
                {
                    **common,
                    "QUERY_KAFKA_BOOTSTRAP": kafka_bootstrap,
                    "QUERY_TOPIC_ROOT": root,
                    "QUERY_ID_HASH_KEY": ID_HASH_KEY,
                    "QUERY_TRACE_SAMPLE_RATIO": "0.01",  # as deployed (docs/query.md)
                    # Every request is counted; the bench's one address must not be the limit.
                    "QUERY_LOOKUP_LIMITS": "100000000/minute",
                    "QUERY_MISS_LIMITS": "100000000/minute",
                },
                work / "query.log",
            )
        )
        wait_http(f"http://127.0.0.1:{bare_port}/bare/{numbers[0]}")
        wait_http(f"http://127.0.0.1:{query_port}/readyz")
        urls = {"bare": f"http://127.0.0.1:{bare_port}/bare/", "lookup": f"http://127.0.0.1:{query_port}/certificates/"}
        for url in urls.values():
            wrk(url, numbers_file, warm_up, connections)
        # Rounds alternate which side goes first, so a drift in the machine's speed weighs on both sides alike.
        runs: list[dict[str, dict[str, float]]] = []
        for round_number in range(rounds):
            order = list(urls) if round_number % 2 == 0 else list(reversed(urls))
            runs.append({name: wrk(urls[name], numbers_file, seconds, connections) for name in order})
        results = {
            name: {
                measure: statistics.median(r[name][measure] for r in runs) for measure in ("rps", "p99_ms", "errors")
            }
            for name in urls
        }
        lags = asyncio.run(lag(kafka_bootstrap, f"http://127.0.0.1:{query_port}", lag_certificates, lag_rate, root))
        return {
            "certificates": certificates,
            "workers": workers,
            "connections": connections,
            "bare": results["bare"],
            "lookup": results["lookup"],
            "ratio": round(statistics.median(r["lookup"]["rps"] / r["bare"]["rps"] for r in runs), 3),
            "rounds": [
                {name: f"{r[name]['rps']:.0f} req/s, p99 {r[name]['p99_ms']:.1f} ms" for name in urls}
                | {"ratio": round(r["lookup"]["rps"] / r["bare"]["rps"], 3)}
                for r in runs
            ],
            "lag_ms": {
                "p50": round(percentile(lags, 50) * 1000, 1),
                "p99": round(percentile(lags, 99) * 1000, 1),
                "max": round(max(lags) * 1000, 1),
                "count": len(lags),
            },
        }
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for server in (redis, kafka):
            if server is not None:
                server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, interleaved; medians reported")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--lag-certificates", type=int, default=300)
    parser.add_argument("--lag-rate", type=float, default=30.0, help="certificates published per second")
    parser.add_argument("--warm-up", type=int, default=3, help="seconds of wrk on each side before the rounds")
    options = parser.parse_args()
    report = run(
        options.certificates,
        seconds=options.seconds,
        rounds=options.rounds,
        workers=options.workers,
        connections=options.connections,
        lag_certificates=options.lag_certificates,
        lag_rate=options.lag_rate,
        warm_up=options.warm_up,
    )
    print(json.dumps(report, indent=2))


async def _ensure_topics(bootstrap: str, root: str = ROOT) -> None:
    from shared.platform.bus import ensure_topics

    topics = [CERTIFICATE_ISSUED.topic(province, root) for province in ("31", "32", "33")]
    await ensure_topics(
        bootstrap,
        topics,
        partitions=3,
        replication=1,
        client_id="bench",
        configs=dict.fromkeys(topics, CERTIFICATE_ISSUED.topic_config),
    )


if __name__ == "__main__":
    main()
