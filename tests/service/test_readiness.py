"""/readyz says more than up or down: until when working days are counted on the official arrangement."""

from __future__ import annotations

from shared.kernel.workdays import arrangement_known
from tests.service.conftest import ServiceBus


async def test_readyz_says_until_when_the_holiday_arrangement_is_known(registry: ServiceBus) -> None:
    today = registry.runtime.clock.today()
    async with registry.http() as client:
        answer = await client.get("/readyz")
    calendar = answer.json()["calendar"]
    known_until = calendar["arrangement_known_until"]
    assert arrangement_known(known_until) and not arrangement_known(known_until + 1)
    assert known_until >= today.year - 1 and "调休" in calendar["note"]
    assert calendar["provisional_after"] == f"{known_until}-12-31"
