"""Event plumbing over the real broker: dead letters, idempotent consumers, and one trace across services."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infra.walkthrough import batch_plan, eventually, organization_application, walk_province
from services.recognition.app import create as create_recognition
from services.recognition.settings import RecognitionSettings
from shared.kernel.events import BATCH_RESULTS_APPROVED, CERTIFICATE_ISSUED, ORGANIZATION_FILED, dead_letter_topic
from tests.harness import Environment, province_services, query_app, serve

pytestmark = pytest.mark.kafka


async def test_invalid_message_goes_to_dead_letter_and_consumption_goes_on(env: Environment, token: Any) -> None:
    settings = RecognitionSettings(**env.common("33"), database_url=env.database_url("recognition"))
    async with serve(create_recognition(settings)) as recognition:
        topic = ORGANIZATION_FILED.topic("33", env.topic_root)
        valid = ORGANIZATION_FILED.make(
            province="33",
            subject="S000033000009",
            payload=ORGANIZATION_FILED.payload.model_validate(
                {
                    **organization_application("33", 9),
                    "filing_code": "S000033000009",
                    "province": "33",
                    "org_type": "S",
                    "scope": organization_application("33", 9)["occupations"],
                    "filed_on": "2026-01-01",
                    "valid_until": "2099-01-01",
                }
            ),
        )
        producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
        await producer.start()
        try:
            # All to one partition, so the valid event is read after the two bad ones.
            await producer.send_and_wait(topic, b"not json at all", partition=0)
            await producer.send_and_wait(topic, json.dumps({"type": ORGANIZATION_FILED.type}).encode(), partition=0)
            await producer.send_and_wait(topic, valid.model_dump_json().encode(), partition=0)
        finally:
            await producer.stop()

        operator = token("33", "org_operator", "S000033000009")
        plan = batch_plan("S000033000009", "33", level=5)

        async def accepted() -> bool:
            return (await recognition.post("/batches", json=plan, headers=operator)).status_code == 201

        await eventually(accepted, within=30, what="the valid event after two bad ones is applied")

    consumer = AIOKafkaConsumer(
        dead_letter_topic("33", "recognition", env.topic_root),
        bootstrap_servers=env.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000, max_records=10)
        records = [r for batch in batches.values() for r in batch]
    finally:
        await consumer.stop()
    wrong_shape = json.dumps({"type": ORGANIZATION_FILED.type}).encode()
    assert sorted(r.value for r in records) == sorted([b"not json at all", wrong_shape])
    for record in records:
        headers = dict(record.headers)
        assert headers["dead-letter-source-topic"].decode() == topic
        assert headers["dead-letter-reason"].decode().startswith("invalid event")


async def test_one_trace_covers_request_and_the_events_it_causes(env: Environment, token: Any) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    env.tracer_provider = provider
    async with province_services(env, "33") as zhejiang, serve(query_app(env)) as query:
        walk = await walk_province(zhejiang, token)
        number = walk.certificates[0]["number"]

        async def queryable() -> bool:
            return (await query.get(f"/certificates/{number}")).status_code == 200

        await eventually(queryable, what="certificate reaches the query service")
    provider.force_flush()
    spans = exporter.get_finished_spans()
    approve = next(s for s in spans if s.name.startswith("POST /batches/{batch_id}/approve") and s.parent is None)
    in_trace = {s.name for s in spans if s.context.trace_id == approve.context.trace_id}
    approved_topic = BATCH_RESULTS_APPROVED.topic("33", env.topic_root)
    issued_topic = CERTIFICATE_ISSUED.topic("33", env.topic_root)
    assert f"{approved_topic} publish" in in_trace  # recognition's relay
    assert f"{approved_topic} process" in in_trace  # certificates consumes
    assert f"{issued_topic} publish" in in_trace  # certificates' relay
    assert any(name.endswith("process") and "certificate-issued" in name for name in in_trace)  # query consumes
    # The query service's Redis write of the batch (one MSET of its documents in a transaction), same trace.
    assert any("MSET" in name.split() for name in in_trace), sorted(in_trace)
