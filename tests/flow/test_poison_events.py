"""An event that passes the schema but cannot be applied (a credential with no subject) is tried a bounded number
of times, dead-lettered with the reason, and the partition goes on: the next certificate behind it reaches the
public lookup. `infra.dead_letters` lists it and re-drives it to its source topic, where the consumer meets it
again. Over the real broker: the rewind, the retries and the committed offsets are Kafka's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from infra import dead_letters
from infra.walkthrough import eventually
from shared.kernel.events import CERTIFICATE_ISSUED, dead_letter_topic
from tests.harness import Environment, query_app, serve
from tests.service import samples

pytestmark = pytest.mark.kafka


async def test_a_poison_event_is_dead_lettered_and_the_next_one_is_applied(env: Environment) -> None:
    poisoned_number, good_number = samples.certificate_number(serial=1), samples.certificate_number(serial=2)
    poison = samples.envelope(
        samples.certificate_issued(poisoned_number).model_copy(update={"credential": {"poison": True}}), province="33"
    )
    good = samples.envelope(samples.certificate_issued(good_number), province="33")
    topic = CERTIFICATE_ISSUED.topic("33", env.topic_root)
    letters_topic = dead_letter_topic("33", "query", env.topic_root)
    async with serve(query_app(env, consumer_max_attempts=2, consumer_first_pause_seconds=0.1)) as query:
        producer = AIOKafkaProducer(bootstrap_servers=env.kafka_bootstrap)
        await producer.start()
        try:
            for envelope in (poison, good):  # one partition: the good one waits behind the poison
                body = envelope.model_dump_json().encode()
                headers = [("event-id", str(envelope.id).encode()), ("event-type", envelope.type.encode())]
                await producer.send_and_wait(topic, body, key=envelope.subject.encode(), partition=0, headers=headers)
        finally:
            await producer.stop()

        async def found(number: str) -> bool:
            return (await query.get(f"/certificates/{number}")).status_code == 200

        await eventually(lambda: found(good_number), within=60, what="the certificate behind the poison")
        assert not await found(poisoned_number)

        async def letters(count: int) -> list[dead_letters.DeadLetter] | None:
            read = await dead_letters.read_topic(env.kafka_bootstrap, letters_topic)
            return read if len(read) >= count else None

        [letter] = await eventually(lambda: letters(1), within=30, what="the poison among the dead letters")
        assert letter.source == topic
        assert letter.reason.startswith("not applied after 2 attempts: KeyError"), letter.reason
        assert json.loads(letter.value or b"")["id"] == str(poison.id)
        assert letter.headers["event-id"] == str(poison.id)  # the producer's headers are kept

        # Re-driven (as an operator does once the cause is mended), it reaches the consumer again: not mended
        # here, it comes back to the dead letters, saying where it was re-driven from.
        [redriven] = await dead_letters.redrive(env.kafka_bootstrap, [letter])
        again: Any = await eventually(lambda: letters(2), within=60, what="the re-driven poison dead-lettered again")
        [second] = [letter for letter in again if "redriven-from" in letter.headers]
        assert second.headers["redriven-from"] == redriven.label
        assert json.loads(second.value or b"")["id"] == str(poison.id)
        assert await found(good_number)
