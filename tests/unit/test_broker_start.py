"""The broker starts its subscribers together (shared.platform.bus.Broker): each subscriber's start waits for its
consumer group's assignment, and one after another a process joining a dozen groups that already have members
waited a rebalance per group (20 s; over the start-up timeout after a broker restart)."""

from __future__ import annotations

import asyncio

import pytest

from shared.platform.bus import make_broker


async def test_subscribers_start_together_and_then_the_publishers(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = make_broker("127.0.0.1:9", client_id="test")
    topics = [f"topic-{n}" for n in range(3)]
    for topic in topics:
        broker.subscriber(topic, group_id=f"group-{topic}")(lambda body: None)
    broker.publisher("out")
    joining: set[str] = set()
    everyone_joining = asyncio.Event()
    order: list[str] = []

    async def join_group(subscriber: object) -> None:
        # Each waits until all are joining at once: started one after another, the first would wait for ever.
        joining.add(str(subscriber))
        if len(joining) == len(topics):
            everyone_joining.set()
        await everyone_joining.wait()
        order.append("subscriber")

    async def publisher_start(publisher: object) -> None:
        order.append("publisher")

    async def connect(self: object) -> None:
        return None

    subscriber_type = type(broker.subscribers[0])
    monkeypatch.setattr(subscriber_type, "start", join_group)
    monkeypatch.setattr(type(broker.publishers[0]), "start", publisher_start)
    monkeypatch.setattr(type(broker), "connect", connect)
    await asyncio.wait_for(broker.start(), timeout=5)
    assert order == ["subscriber"] * len(topics) + ["publisher"]
    assert broker.running
