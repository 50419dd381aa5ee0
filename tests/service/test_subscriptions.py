"""What every subscription of every service shares (shared.platform.bus.subscribe): a message it cannot read is
dead-lettered with the reason and consumption goes on; it listens to its own province's topic, or to every
province's (local and mirrored) when declared `all_provinces`, and to nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.kernel.events import EventContract
from shared.platform.bus import Handling
from tests.service.conftest import CONSUMERS, running
from tests.service.samples import PROVINCE, sample

PAIRS = [(service, handling) for service, consumer in CONSUMERS.items() for handling in consumer.handlings]


def pair_id(pair: tuple[str, Handling[Any]]) -> str:
    return f"{pair[0]}-{pair[1].contract.type}"


def unreadable(contract: EventContract[Any]) -> list[bytes]:
    """Not JSON; the right type with a payload missing its fields; a valid payload under another type."""
    good = json.loads(sample(contract.type).model_dump_json())
    return [
        b"{not json",
        json.dumps({**good, "payload": {}}).encode(),
        json.dumps({**good, "type": f"{contract.service}.something-else"}).encode(),
    ]


async def _running(service: str, request: pytest.FixtureRequest, tmp_path: Path, topic_root: str) -> Any:
    redis_url = request.getfixturevalue("redis_url") if service == "query" else None
    return running(service, tmp_path=tmp_path, topic_root=topic_root, redis_url=redis_url)


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
async def test_an_unreadable_message_is_dead_lettered_and_consumption_goes_on(
    pair: tuple[str, Handling[Any]], request: pytest.FixtureRequest, tmp_path: Path, topic_root: str
) -> None:
    service, handling = pair
    contract = handling.contract
    async with await _running(service, request, tmp_path, topic_root) as bus:
        topic = bus.topic(contract)
        bodies = unreadable(contract)
        for body in bodies:
            await bus.publish(body, topic=topic, key="k")  # does not raise: the consumer commits and goes on
        assert [letter.body for letter in bus.dead_letters] == bodies
        for letter in bus.dead_letters:
            assert letter.headers["dead-letter-reason"].startswith("invalid event: ")
            assert letter.headers["dead-letter-source-topic"] == topic
            assert letter.headers["dead-letter-source-offset"] == "0"
        reasons = [letter.headers["dead-letter-reason"] for letter in bus.dead_letters]
        assert "Invalid JSON" in reasons[0]
        assert "payload." in reasons[1], reasons[1]
        assert f"expected event type {contract.type}" in reasons[2], reasons[2]
        if bus.runtime.engine is not None:
            assert bus.processed() == 0


@pytest.mark.parametrize("pair", PAIRS, ids=pair_id)
async def test_a_subscription_listens_to_the_topics_it_declares(
    pair: tuple[str, Handling[Any]], request: pytest.FixtureRequest, tmp_path: Path, topic_root: str
) -> None:
    """A dead letter shows the message reached the subscriber: an unreadable body is cheap to send anywhere."""
    service, handling = pair
    contract = handling.contract
    other = "32"
    topics = {
        "own province": (contract.topic(PROVINCE, topic_root), True),
        "another province": (contract.topic(other, topic_root), handling.all_provinces),
        "another province, mirrored": (f"zj.{contract.topic(other, topic_root)}", handling.all_provinces),
        "another topic root": (contract.topic(PROVINCE, f"{topic_root}x"), False),
    }
    async with await _running(service, request, tmp_path, topic_root) as bus:
        for what, (topic, consumed) in topics.items():
            before = len(bus.dead_letters)
            await bus.publish(b"{not json", topic=topic)
            reached = len(bus.dead_letters) - before
            assert reached == int(consumed), f"{service} {contract.type}, {what} ({topic}): consumed {reached} times"
            if consumed:
                assert bus.dead_letters[-1].headers["dead-letter-source-topic"] == topic
