"""Benchmark: issuing one large approved batch, from the approval's parts on Kafka to every credential on Kafka.

    .venv/bin/python -m bench.certificate_batch --candidates 100000 [--database postgresql]

Starts its own Kafka (the launcher of `make up`), runs the certificates service of one province in this
process (SQLite, or PostgreSQL started by the same launcher as the tests), puts the batch's
`batch results approved` parts on Kafka (500 candidates each, as recognition does), and times: every part
issued (numbers and status bits allocated, salted claims, one signature a part, and its `certificate issued`
events stored, a transaction a part), and every event published to Kafka by the outbox relay. Peak memory is
the process's: run 10,000 and 100,000 to see it stay flat.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from bench.system import cpu_seconds
from infra.servers import KafkaServer, PostgresServer
from infra.walkthrough import eventually, resident_id
from services.certificates.app import create as create_certificates
from services.certificates.models import BatchIssue, SignedBatch
from services.certificates.settings import CertificatesSettings
from shared.kernel.clock import Clock
from shared.kernel.events import BATCH_RESULTS_APPROVED, BatchResultsApproved, PassedCandidate
from shared.platform.auth import ensure_dev_keys
from shared.platform.bus import ensure_topics, make_broker
from shared.platform.outbox import OutboxEvent
from tests.harness import serve

PART_SIZE = 500  # as recognition splits an approval


def parts(batch_id: str, count: int, *, first: int = 0) -> list[BatchResultsApproved]:
    """The approval of a batch of `count` candidates (numbered from `first`), in parts of 500 as recognition sends
    them."""
    total = (count + PART_SIZE - 1) // PART_SIZE
    return [
        BatchResultsApproved(
            batch_id=batch_id,
            organization_code="S000033000001",
            organization_name="杭州市职业技能评价中心",
            occupation_code="6-18-01-01",
            occupation_name="车工",
            level=4,
            approved_on=Clock().today(),
            part=part + 1,
            parts=total,
            passed=[
                PassedCandidate(
                    candidate_id=str(i), name=f"考生{i}", id_type="居民身份证", id_number=resident_id("33", i)
                )
                for i in range(first + part * PART_SIZE, first + min(count, (part + 1) * PART_SIZE))
            ],
        )
        for part in range(total)
    ]


async def measure(settings: CertificatesSettings, count: int) -> dict[str, Any]:
    timings: dict[str, Any] = {
        "candidates": count,
        "parts": (count + PART_SIZE - 1) // PART_SIZE,
        "database": settings.sqlalchemy_url.split(":")[0],
    }
    app = create_certificates(settings)
    engine = app.state.runtime.db
    batch_id = f"bench-{uuid.uuid4().hex[:8]}"
    topic = BATCH_RESULTS_APPROVED.topic("33", settings.topic_root)
    await ensure_topics(settings.kafka_bootstrap, [topic], partitions=3, replication=1, client_id="bench")
    producer = make_broker(settings.kafka_bootstrap, client_id="bench-recognition")

    def scalar(statement: Any) -> Any:
        with Session(engine) as session:
            return session.exec(statement).one()

    async with serve(app), producer:
        started, cpu_started = time.perf_counter(), time.process_time()
        for part in parts(batch_id, count):
            envelope = BATCH_RESULTS_APPROVED.make(province="33", subject=batch_id, payload=part)
            key = BATCH_RESULTS_APPROVED.key(province="33", subject=batch_id)
            await producer.publish(envelope.model_dump_json().encode(), topic, key=key.encode())
        timings["parts_on_kafka_seconds"] = time.perf_counter() - started

        async def signed() -> bool:
            with Session(engine) as session:
                progress = session.get(BatchIssue, batch_id)
                return progress is not None and len(progress.received_parts) == progress.parts

        await eventually(signed, within=1800, what="every part numbered, signed and its events stored")
        timings["signed_and_stored_seconds"] = time.perf_counter() - started

        async def published() -> bool:
            unsent = await asyncio.to_thread(
                scalar,
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.event_type == "certificates.certificate-issued", col(OutboxEvent.sent_at).is_(None)),
            )
            return bool(unsent == 0)

        await eventually(published, within=1800, what="every certificate published")
        timings["all_published_seconds"] = time.perf_counter() - started
        timings["certificates_per_second"] = count / timings["all_published_seconds"]
        # This process's CPU time (the service and the bench's polling) per certificate: steadier than the
        # wall time when the machine is shared.
        timings["cpu_milliseconds_per_certificate"] = (time.process_time() - cpu_started) * 1000 / count
        timings["signatures"] = await asyncio.to_thread(scalar, select(func.count()).select_from(SignedBatch))
    timings["peak_rss_megabytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return timings


def run(candidates: int = 100_000, *, database: str = "sqlite", kafka_bootstrap: str | None = None) -> dict[str, Any]:
    """Issues one batch (on its own Kafka unless given one, and its own PostgreSQL for `postgresql`); the timings."""
    with tempfile.TemporaryDirectory(prefix="bench-certificates-") as tmp:
        base = Path(tmp)
        kafka = KafkaServer(base / "kafka") if kafka_bootstrap is None else None
        if kafka is not None:
            kafka.start()
        postgres = PostgresServer(base / "postgres") if database == "postgresql" else None
        try:
            if postgres is not None:
                postgres.start()
            ensure_dev_keys(base / "keys", "33")
            url = postgres.create_database("certificates_bench") if postgres else f"sqlite:///{base / 'certs.db'}"
            settings = CertificatesSettings(
                province="33",
                kafka_bootstrap=kafka.bootstrap if kafka is not None else str(kafka_bootstrap),
                keys_dir=base / "keys",
                database_url=url,
                topic_root=f"bench{uuid.uuid4().hex[:6]}",
                outbox_poll_seconds=0.1,
            )
            servers = (
                {"postgres": postgres.proc.process.pid} if postgres and postgres.proc and postgres.proc.process else {}
            )
            before = cpu_seconds(servers)
            figures = asyncio.run(measure(settings, candidates))
            for name, used in cpu_seconds(servers).items():  # the database server's own work, per certificate
                figures[f"{name}_cpu_milliseconds_per_certificate"] = (used - before[name]) * 1000 / candidates
            return figures
        finally:
            if postgres is not None:
                postgres.stop()
            if kafka is not None:
                kafka.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    for key, value in run(args.candidates, database=args.database).items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
