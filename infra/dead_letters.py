"""Dead letters: list what a consumer could not apply, and re-drive it to its source topic once mended.

    python -m infra.dead_letters list --province 33 --consumer certificates
    python -m infra.dead_letters redrive --province 33 --consumer certificates --at 0@4 --at 2@7
    python -m infra.dead_letters redrive --province 33 --consumer query --all

A re-driven message goes back to the topic it came from with its key, body and headers (so its event id and
partition are the same) plus `redriven-from` naming the dead letter. Consumers apply an event once by its id, so
re-driving one that was applied meanwhile, or twice, changes nothing. The bootstrap servers and the topic root
are the services' own settings (KAFKA_BOOTSTRAP, TOPIC_ROOT) unless given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kernel.events import TOPIC_ROOT, dead_letter_topic

SOURCE_TOPIC = "dead-letter-source-topic"
DEAD_LETTER_HEADERS = ("dead-letter-reason", SOURCE_TOPIC, "dead-letter-source-partition", "dead-letter-source-offset")


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def reason(self) -> str:
        return self.headers.get("dead-letter-reason", "")

    @property
    def source(self) -> str:
        return self.headers.get(SOURCE_TOPIC, "")

    @property
    def at(self) -> str:
        """Partition@offset on the dead-letter topic: how `redrive --at` names it."""
        return f"{self.partition}@{self.offset}"

    @property
    def label(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, none if it does not exist (yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return [
        TopicPartition(topic, p["partition"]) for p in sorted(described["partitions"], key=lambda p: p["partition"])
    ]


async def read_topic(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every message now on `topic` (dead letters, or any other topic's), oldest first by partition; read without a
    consumer group, so nothing is committed."""
    partitions = await partitions_of(bootstrap, topic)
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        letters: list[DeadLetter] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                letters += [
                    DeadLetter(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers={k: v.decode(errors="replace") for k, v in r.headers},
                    )
                    for r in records
                    if r.offset < ends[TopicPartition(r.topic, r.partition)]
                ]
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


async def redrive(bootstrap: str, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """Publishes each letter again to its source topic; the letters re-driven."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    sent: list[DeadLetter] = []
    try:
        for letter in letters:
            if not letter.source:
                raise ValueError(f"{letter.label} names no source topic: it cannot be re-driven")
            headers = [(k, v.encode()) for k, v in letter.headers.items() if k not in DEAD_LETTER_HEADERS]
            headers.append(("redriven-from", letter.label.encode()))
            await producer.send_and_wait(letter.source, letter.value, key=letter.key, headers=headers)
            sent.append(letter)
    finally:
        await producer.stop()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.dead_letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["list", "redrive"])
    parser.add_argument("--province", required=True, help="the province whose consumer dead-lettered (33)")
    parser.add_argument("--consumer", required=True, help="registry, recognition, certificates, supervision, query")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--topic-root", default=os.environ.get("TOPIC_ROOT", TOPIC_ROOT))
    parser.add_argument("--at", action="append", default=[], help="re-drive the dead letter at PARTITION@OFFSET")
    parser.add_argument("--all", action="store_true", help="re-drive every dead letter")
    args = parser.parse_args(argv)
    topic = dead_letter_topic(args.province, args.consumer, args.topic_root)
    letters = asyncio.run(read_topic(args.bootstrap, topic))
    if args.action == "list":
        for letter in letters:
            shown = {"at": letter.at, "source": letter.source, "reason": letter.reason}
            print(json.dumps(shown, ensure_ascii=False))
        print(f"{len(letters)} dead letters on {topic}", file=sys.stderr)
        return 0
    chosen = letters if args.all else [letter for letter in letters if letter.at in set(args.at)]
    if missing := set(args.at) - {letter.at for letter in chosen}:
        parser.error(f"no dead letter at {', '.join(sorted(missing))} on {topic}")
    if not chosen:
        parser.error("name the dead letters to re-drive: --at PARTITION@OFFSET (see `list`) or --all")
    for letter in asyncio.run(redrive(args.bootstrap, chosen)):
        print(f"re-drove {letter.label} to {letter.source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
