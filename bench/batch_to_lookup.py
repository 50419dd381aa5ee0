"""Benchmark: from a batch approval to every certificate being found in the public lookup.

    .venv/bin/python -m bench.batch_to_lookup --candidates 1000

Starts its own Kafka and Redis (the launcher of `make up`), runs one province's services and the query
service in this process on SQLite, files an organization, plans a batch of N candidates, records all as
passed, approves it, and measures until the query service holds all N certificates.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from infra.servers import KafkaServer, RedisServer
from infra.walkthrough import batch_plan, eventually, expect, filed_organization, run_batch, service_today
from shared.platform.auth import Role, ensure_dev_keys, mint_token
from tests.harness import Environment, province_services, query_app, serve


async def measure(env: Environment, candidates: int) -> dict[str, float]:
    def token(province: str, role: str, organization: str | None = None) -> dict[str, str]:
        value = mint_token(env.keys_dir, province=province, role=Role(role), subject="bench", organization=organization)
        return {"Authorization": f"Bearer {value}"}

    async with province_services(env, "33") as province, serve(query_app(env)) as query:
        official = token("33", "province_official")
        organization = expect(
            await province.registry.post(
                "/organizations",
                json=filed_organization("33", today=await service_today(province.registry)),
                headers=official,
            ),
            201,
        )
        code = organization["filing_code"]
        operator = token("33", "org_operator", code)
        plan = batch_plan(code, "33", candidates, today=await service_today(province.recognition))

        async def planned() -> dict | None:  # type: ignore[type-arg]
            response = await province.recognition.post("/batches", json=plan, headers=operator)
            return response.json() if response.status_code == 201 else None

        started = time.perf_counter()
        batch = await eventually(planned, what="batch accepted")
        plan_seconds = time.perf_counter() - started
        # Submission, plan approval, results, publicity, report, review; ends with the province's approval.
        await run_batch(province.recognition, batch, token, "33")
        approved_at = time.perf_counter()
        last = plan["candidates"][-1]

        async def all_queryable() -> bool:
            # Serials are allocated in candidate order, so the last number means the batch is complete.
            response = await query.post("/holder-lookups", json={"name": last["name"], "id_number": last["id_number"]})
            return response.status_code == 200 and response.json()["count"] == 1

        await eventually(all_queryable, within=600, what="all certificates queryable")
        total = time.perf_counter() - approved_at
    return {
        "candidates": candidates,
        "plan_seconds": plan_seconds,
        "approve_to_queryable_seconds": total,
        "certificates_per_second": candidates / total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        kafka, redis = KafkaServer(base / "kafka"), RedisServer(base / "redis")
        kafka.start()
        redis.start()
        try:
            ensure_dev_keys(base / "keys", "33")
            env = Environment(
                kafka.bootstrap,
                base / "keys",
                f"bench{uuid.uuid4().hex[:6]}",
                lambda name: f"sqlite:///{base / name}.db",
                redis.url,
            )
            result = asyncio.run(measure(env, args.candidates))
        finally:
            redis.stop()
            kafka.stop()
    for key, value in result.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
