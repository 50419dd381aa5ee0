"""Fair use's lease is taken in one Redis call (services/query/fair_use.py, TAKE_LEASE), counted in `limits`' own
windows, against every limit at once: a client's first lookup costs one limiter round trip, and no more than its
limits, blocks included."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import HTTPException
from redis.asyncio import Redis

from services.query.fair_use import FairUse


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def fair_use(redis: Redis, redis_url: str, lookups: str, misses: str = "1000/minute") -> FairUse:
    return FairUse(
        redis, redis_url, prefix=f"t{uuid.uuid4().hex[:8]}:", lookups=lookups, misses=misses, partner_keys=[]
    )


def counting(redis: Redis) -> list[Any]:
    """Records every command this client sends (a script call is one EVALSHA)."""
    sent: list[Any] = []
    execute = redis.execute_command

    async def counted(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return await execute(*args, **kwargs)  # type: ignore[no-untyped-call]

    redis.execute_command = counted  # type: ignore[method-assign]
    return sent


async def test_a_new_clients_first_lookup_costs_one_redis_call(redis: Redis, redis_url: str) -> None:
    limits = fair_use(redis, redis_url, "60/minute;1000/day")

    async def not_called(*_: Any, **__: Any) -> bool:
        raise AssertionError("the lease is taken by TAKE_LEASE, not by a call per limit")

    limits.limiter.hit = not_called  # type: ignore[method-assign]
    await limits.admit("198.51.100.1")  # loads the script
    sent = counting(redis)
    for n in range(2, 22):
        await limits.admit(f"198.51.100.{n}")
    assert sent == ["EVALSHA"] * 20
    await limits.storage.reset()


async def test_leases_are_counted_in_the_limits_librarys_windows(redis: Redis, redis_url: str) -> None:
    limits = fair_use(redis, redis_url, "60/minute;1000/day")
    client = "203.0.113.20"
    for item in limits.lookups:
        previous, current = limits.window_keys(item, "lookup", client)
        key = item.key_for("lookup", client)
        bridge = limits.storage.bridge
        assert current == bridge.prefixed_key(limits.storage._current_window_key(key))
        assert previous == bridge.prefixed_key(limits.storage._previous_window_key(key))
    windows = [key for item in limits.lookups for key in limits.window_keys(item, "lookup", client)]
    assert limits.lease_keys(client) == [limits.block_key(client), *windows]
    for _ in range(7):
        await limits.admit(client)
    # Leases of 1, 2, 3, 3 (a twentieth of 60): 9 counted for 7 lookups, the rest left in the lease; `limits` reads
    # what was counted, in both limits alike.
    stats = [await limits.limiter.get_window_stats(item, "lookup", client) for item in limits.lookups]
    used = [item.amount - window.remaining for item, window in zip(limits.lookups, stats, strict=True)]
    assert used == [9, 9]
    await limits.storage.reset()


async def test_no_more_than_the_smallest_limit_and_nothing_counted_against_the_others(
    redis: Redis, redis_url: str
) -> None:
    limits = fair_use(redis, redis_url, "1000/minute;4/day")
    client = "203.0.113.21"
    for _ in range(4):
        await limits.admit(client)
    for _ in range(3):
        with pytest.raises(HTTPException) as refused:
            await limits.admit(client)
        assert refused.value.status_code == 429 and "4 per 1 day" in str(refused.value.detail)
        assert int((refused.value.headers or {})["Retry-After"]) >= 1
    # The refused lookups were counted against neither limit.
    minute = await limits.limiter.get_window_stats(limits.lookups[0], "lookup", client)
    assert minute.remaining == 1000 - 4
    await limits.storage.reset()


async def test_a_block_is_read_with_the_lease_and_one_that_ended_is_not(redis: Redis, redis_url: str) -> None:
    limits = fair_use(redis, redis_url, "1000/minute")
    client = "203.0.113.22"
    await redis.set(limits.block_key(client), f"{time.time() + 30:.0f}", ex=30)
    with pytest.raises(HTTPException) as refused:
        await limits.admit(client)
    assert refused.value.status_code == 429 and 1 <= int((refused.value.headers or {})["Retry-After"]) <= 31
    # A block whose end has passed (its key outlives it by up to a second) admits the client again.
    await redis.set(limits.block_key(client), f"{time.time() - 1:.0f}", ex=5)
    await limits.admit(client)
    await redis.delete(limits.block_key(client))
    await limits.storage.reset()


async def test_a_new_clients_lookup_is_counted_and_read_in_one_redis_call(redis: Redis, redis_url: str) -> None:
    limits = fair_use(redis, redis_url, "60/minute;2/day")
    key = f"{limits.prefix}document"
    await redis.set(key, b'{"certificate_number": "x"}')
    await limits.admit("198.51.100.1")  # loads the script
    sent = counting(redis)
    assert await limits.admit_and_read("198.51.100.30", key) == b'{"certificate_number": "x"}'
    assert await limits.admit_and_read("198.51.100.31", f"{limits.prefix}nothing") is None
    assert sent == ["EVALSHA", "EVALSHA"]
    # Its lease of one used up: the next lease (of two) does not fit the day, one does; then 429, nothing read.
    assert await limits.admit_and_read("198.51.100.30", key) is not None
    with pytest.raises(HTTPException) as refused:
        await limits.admit_and_read("198.51.100.30", key)
    assert refused.value.status_code == 429
    assert sent[2:] == ["EVALSHA", "EVALSHA"]
    await redis.delete(key)
    await limits.storage.reset()


async def test_the_previous_window_still_counts_as_in_limits(redis: Redis, redis_url: str) -> None:
    limits = fair_use(redis, redis_url, "4 per 2 seconds")
    client = "203.0.113.23"
    for _ in range(4):
        await limits.admit(client)
    with pytest.raises(HTTPException):
        await limits.admit(client)
    # Into the next window: the previous one's 4 weigh as floor(4 x its time left / 2 s) = 3, so one more fits.
    await asyncio.sleep(2.1)
    await limits.admit(client)
    with pytest.raises(HTTPException):
        await limits.admit(client)
    await limits.storage.reset()
