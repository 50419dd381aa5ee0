"""A subscriber's batch loop waits for events once, not twice (shared.platform.bus.PromptBatchSubscriber):
FastStream's own sleeps `batch_timeout_ms` again after an empty `getmany`, so an event arriving then waited up to
200 ms more at each hop between services."""

from __future__ import annotations

from typing import Any

import pytest

from shared.kernel.events import SIGNING_KEY_PUBLISHED
from shared.platform import bus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def pause(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 3))
        self.now += seconds


class Consumer:
    """Answers `getmany` after `waits` seconds of the clock with `records` (by partition)."""

    def __init__(self, clock: Clock, waits: float, records: dict[str, list[str]]) -> None:
        self.clock, self.waits, self.records = clock, waits, records

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
        self.clock.now += self.waits
        return self.records


@pytest.fixture
def subscriber(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Clock]:
    broker = bus.make_broker("127.0.0.1:9", client_id="test")
    bus.subscribe(
        broker,
        SIGNING_KEY_PUBLISHED,
        province="33",
        consumer="test",
        group_id="test-group",
        handler=lambda envelope: None,  # type: ignore[arg-type, return-value]
        root="t",
    )
    [subscriber] = [s for s in broker.subscribers if isinstance(s, bus.PromptBatchSubscriber)]
    clock = Clock()
    monkeypatch.setattr(bus, "_monotonic", clock.monotonic)
    monkeypatch.setattr(bus, "_pause", clock.pause)
    return subscriber, clock


async def test_after_waiting_its_timeout_for_nothing_the_loop_asks_again_at_once(subscriber: tuple[Any, Clock]) -> None:
    loop, clock = subscriber
    assert await loop.get_msg(Consumer(clock, waits=loop.batch_timeout_ms / 1000, records={})) == ()
    assert clock.pauses == []  # FastStream's own batch subscriber sleeps the timeout once more here


async def test_an_empty_answer_at_once_pauses_the_rest_of_the_timeout(subscriber: tuple[Any, Clock]) -> None:
    loop, clock = subscriber
    assert await loop.get_msg(Consumer(clock, waits=0.05, records={})) == ()  # e.g. no partitions assigned yet
    assert clock.pauses == [round(loop.batch_timeout_ms / 1000 - 0.05, 3)]


async def test_records_of_every_partition_come_back_together(subscriber: tuple[Any, Clock]) -> None:
    loop, clock = subscriber
    got = await loop.get_msg(Consumer(clock, waits=0.01, records={"p0": ["a", "b"], "p1": ["c"]}))
    assert got == ("a", "b", "c") and clock.pauses == []
