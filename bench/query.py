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
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


async def load(redis_url: str, count: int) -> list[str]:
    from services.query.store import CertificateStore

    redis = Redis.from_url(redis_url)
    store = CertificateStore(redis, ID_HASH_KEY.encode(), PREFIX)
    numbers = []
    for serial in range(1, count + 1):
        issued = certificate(random.choice(["31", "32", "33"]), serial)
        await store.apply_issued(issued)
        await redis.set(
            f"{PREFIX}bare:{issued.certificate_number}",
            await redis.get(store.key("cert", issued.certificate_number)) or b"",
        )
        numbers.append(issued.certificate_number)
    await redis.aclose()
    return numbers


async def lag(bootstrap: str, query_url: str, count: int, rate: float) -> list[float]:
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
                topic=CERTIFICATE_ISSUED.topic(province, ROOT),
                key=issued.certificate_number.encode(),
            )
            watchers.append(asyncio.create_task(watch(issued.certificate_number, sent)))
            await asyncio.sleep(1 / rate)
        await asyncio.wait_for(asyncio.gather(*watchers), 120)
    await broker.stop()
    return lags


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side, interleaved; medians reported")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--lag-certificates", type=int, default=300)
    parser.add_argument("--lag-rate", type=float, default=30.0, help="certificates published per second")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-query-"))
    kafka, redis = KafkaServer(work / "kafka"), RedisServer(work / "redis")
    kafka.start()
    redis.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # The provinces' topics exist before the query service subscribes (as the certificates services ensure).
        asyncio.run(_ensure_topics(kafka.bootstrap))
        numbers = asyncio.run(load(redis.url, options.certificates))
        numbers_file = work / "numbers.txt"
        numbers_file.write_text("\n".join(numbers) + "\n")
        common = {"QUERY_REDIS_URL": redis.url, "QUERY_REDIS_PREFIX": PREFIX}
        bare_port, query_port = free_port(), free_port()
        processes.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "bench.query_bare:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(bare_port),
                    "--workers",
                    str(options.workers),
                    "--no-access-log",
                ],
                common,
                work / "bare.log",
            )
        )
        processes.append(
            spawn(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "services.query.app:create",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(query_port),
                    "--workers",
                    str(options.workers),
                    "--no-access-log",
                ],
                {
                    **common,
                    "QUERY_KAFKA_BOOTSTRAP": kafka.bootstrap,
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
            wrk(url, numbers_file, 3, options.connections)  # warm up
        # Rounds alternate which side goes first, so a drift in the machine's speed weighs on both sides alike.
        rounds: list[dict[str, dict[str, float]]] = []
        for round_number in range(options.rounds):
            order = list(urls) if round_number % 2 == 0 else list(reversed(urls))
            rounds.append({name: wrk(urls[name], numbers_file, options.seconds, options.connections) for name in order})
        results = {
            name: {
                measure: statistics.median(r[name][measure] for r in rounds) for measure in ("rps", "p99_ms", "errors")
            }
            for name in urls
        }
        lags = asyncio.run(
            lag(kafka.bootstrap, f"http://127.0.0.1:{query_port}", options.lag_certificates, options.lag_rate)
        )
        report = {
            "certificates": options.certificates,
            "workers": options.workers,
            "connections": options.connections,
            "bare": results["bare"],
            "lookup": results["lookup"],
            "ratio": round(statistics.median(r["lookup"]["rps"] / r["bare"]["rps"] for r in rounds), 3),
            "rounds": [
                {name: f"{r[name]['rps']:.0f} req/s, p99 {r[name]['p99_ms']:.1f} ms" for name in urls}
                | {"ratio": round(r["lookup"]["rps"] / r["bare"]["rps"], 3)}
                for r in rounds
            ],
            "lag_ms": {
                "p50": round(percentile(lags, 50) * 1000, 1),
                "p99": round(percentile(lags, 99) * 1000, 1),
                "max": round(max(lags) * 1000, 1),
                "count": len(lags),
            },
        }
        print(json.dumps(report, indent=2))
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
        redis.stop()
        kafka.stop()


async def _ensure_topics(bootstrap: str) -> None:
    from shared.platform.bus import ensure_topics

    topics = [CERTIFICATE_ISSUED.topic(province, ROOT) for province in ("31", "32", "33")]
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
