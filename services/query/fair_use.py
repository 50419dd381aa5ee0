"""Fair use of the free public lookup: per-client rate limits kept in Redis by the `limits` library.

Every lookup counts against the lookup limits. A lookup that finds nothing also counts against the much
smaller miss limits: a client that keeps missing (guessing ID numbers or certificate numbers) is blocked
until that window has room again, and told so with 429 and Retry-After. The block is a Redis key read in
the same round trip as the lookup itself, so an honest client pays one extra Redis call per lookup.
Partner systems (a province's recognition service checking its candidates) present a partner key and are
not limited.
"""

from __future__ import annotations

import hmac
import math
import time

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from shared.auth import PARTNER_HEADER


class FairUse:
    def __init__(self, redis: Redis, redis_url: str, *, prefix: str, lookups: str, misses: str,
                 partner_keys: list[str]):
        self.redis = redis
        self.storage = RedisStorage(redis_url.replace("redis://", "async+redis://", 1), implementation="redispy",
                                    key_prefix=f"{prefix}fair-use")
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.lookups: list[RateLimitItem] = parse_many(lookups)
        self.misses: list[RateLimitItem] = parse_many(misses)
        self.partner_keys = [key.encode() for key in partner_keys if key]
        self.prefix = prefix

    def client(self, request: Request) -> str | None:
        """Who is asking: None for a partner system, else the client address (uvicorn resolves trusted
        proxies' X-Forwarded-For, see docs/query.md)."""
        presented = request.headers.get(PARTNER_HEADER, "").encode()
        if presented and any(hmac.compare_digest(presented, key) for key in self.partner_keys):
            return None
        return request.client.host if request.client else "unknown"

    def block_key(self, client: str) -> str:
        return f"{self.prefix}blocked:{client}"

    async def admit(self, client: str | None) -> None:
        """Counts one lookup; 429 when the client has used its share."""
        if client is None:
            return
        for item in self.lookups:
            if not await self.limiter.hit(item, "lookup", client):
                stats = await self.limiter.get_window_stats(item, "lookup", client)
                raise too_many(f"more than {item} lookups from this address", stats.reset_time)

    async def missed(self, client: str | None) -> None:
        """Counts a lookup that found nothing; past the miss limits the client is blocked for a while."""
        if client is None:
            return
        for item in self.misses:
            if not await self.limiter.hit(item, "miss", client):
                stats = await self.limiter.get_window_stats(item, "miss", client)
                until = max(stats.reset_time, time.time() + 1)
                await self.redis.set(self.block_key(client), f"{until:.0f}", exat=math.ceil(until))
                raise too_many(f"more than {item} lookups that found nothing from this address", until)

def too_many(reason: str, until: float) -> HTTPException:
    retry_after = max(1, math.ceil(until - time.time()))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{reason}: please wait {retry_after} s (查询过于频繁，请 {retry_after} 秒后再试)",
        headers={"Retry-After": str(retry_after)},
    )


def blocked(until: str | bytes | None) -> None:
    """Raises 429 if the block read with the lookup is still in force."""
    if until is not None and float(until) > time.time():
        raise too_many("too many lookups that found nothing from this address", float(until))
