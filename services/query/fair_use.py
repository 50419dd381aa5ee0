"""Fair use of the free public lookup: per-client rate limits kept in Redis by the `limits` library.

Every lookup counts against the lookup limits. A lookup that finds nothing also counts against the much
smaller miss limits: a client that keeps missing (guessing ID numbers or certificate numbers) is blocked
until that window has room again, and told so with 429 and Retry-After. Partner systems (a province's
recognition service checking its candidates) present a partner key and are not limited.

The client is the peer address of the connection. Only when that peer is one of the configured reverse proxies
(`QUERY_TRUSTED_PROXIES`, none by default) is the client taken from X-Forwarded-For: the right-most address in it
that no trusted proxy wrote, which is the one the proxy saw. A client cannot get past its limits by writing the
header itself: from anywhere else the header is ignored, and through the proxy its own entries stand left of the
address the proxy adds.

A limiter call costs about as much as a lookup, so a worker takes a client's lookups from the limits in
leases: the first lookup takes 1, and a client that uses up its lease within `LEASE_SECONDS` takes twice as
many the next time, up to a twentieth of its smallest limit (`MAX_LEASE` at most). A lease is counted in
Redis when it is taken, so a client never gets more than its limits; an unused rest expires with the lease
(at most a twentieth of the limit per worker). When a lease does not fit in the window, one lookup is tried.
When a lease runs out under a client's concurrent requests, one of them takes the next and the others wait
for it, so they neither call the limiter each nor overwrite each other's counted leases.
The block (a Redis key) is read as each lease is taken: the worker that blocks a client drops its lease at
once, another worker notices at its next lease, within `LEASE_SECONDS`. Every miss is still counted, so a
guesser gains nothing from that second; a lookup that finds something costs one Redis read, as the bare GET.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass, field

from fastapi import HTTPException, Request, status
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from shared.platform.auth import PARTNER_HEADER

PARTNER_HEADER_NAME = PARTNER_HEADER.lower().encode()  # as ASGI servers hand header names over
FORWARDED_FOR = b"x-forwarded-for"
LEASE_SECONDS = 1.0
MAX_LEASE = 64


@dataclass
class Lease:
    """Lookups a worker took for one client from the limits, and may hand out until `until` (monotonic).
    One request at a time takes a new lease (`renewal`); the client's other requests wait and share it."""

    size: int = 0
    left: int = 0
    until: float = 0.0
    renewal: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take(self) -> bool:
        if self.left > 0 and time.monotonic() < self.until:
            self.left -= 1
            return True
        return False


class FairUse:
    def __init__(
        self,
        redis: Redis,
        redis_url: str,
        *,
        prefix: str,
        lookups: str,
        misses: str,
        partner_keys: list[str],
        trusted_proxies: list[str] | None = None,
    ):
        self.redis = redis
        self.storage = RedisStorage(
            redis_url.replace("redis://", "async+redis://", 1), implementation="redispy", key_prefix=f"{prefix}fair-use"
        )
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.lookups: list[RateLimitItem] = parse_many(lookups)
        self.misses: list[RateLimitItem] = parse_many(misses)
        self.partner_keys = [key.encode() for key in partner_keys if key]
        self.prefix = prefix
        self.max_lease = max(1, min([MAX_LEASE, *(item.amount // 20 for item in self.lookups)]))
        self.leases: dict[str, Lease] = {}
        networks = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies or []]
        # Single addresses are compared as text (the peer address as the server gives it), networks by parsing.
        self.proxy_addresses = frozenset(
            str(network.network_address) for network in networks if network.num_addresses == 1
        )
        self.proxy_networks = [network for network in networks if network.num_addresses > 1]

    def client(self, request: Request) -> str | None:
        """Who is asking: None for a partner system, else the client address: the peer's, or behind a trusted
        proxy the one it forwarded for (docs/query.md, Fair use)."""
        # Read from the ASGI scope: Starlette's Headers and Address objects cost more than the rest of fair use.
        if self.partner_keys:
            for name, presented in request.scope["headers"]:
                if name == PARTNER_HEADER_NAME:
                    if any(hmac.compare_digest(presented, key) for key in self.partner_keys):
                        return None
                    break
        address = request.scope.get("client")
        peer: str = address[0] if address else "unknown"
        if (self.proxy_addresses or self.proxy_networks) and self.trusted(peer):
            return self.forwarded_for(request.scope["headers"]) or peer
        return peer

    def trusted(self, address: str) -> bool:
        """Whether this address is one of the configured reverse proxies."""
        if address in self.proxy_addresses:
            return True
        if not self.proxy_networks:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self.proxy_networks)

    def forwarded_for(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The right-most X-Forwarded-For address not written by a trusted proxy (None without the header): each
        proxy appends the address it was reached from, so what a client wrote itself stands left of it."""
        hops = [
            hop.strip()
            for name, value in headers
            if name == FORWARDED_FOR
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        for hop in reversed(hops):
            if not self.trusted(hop):
                return hop
        return hops[0] if hops else None

    def block_key(self, client: str) -> str:
        return f"{self.prefix}blocked:{client}"

    async def admit(self, client: str | None) -> None:
        """Counts one lookup, from this worker's lease for the client or a new one; 429 when the client has
        used its share."""
        if client is None:
            return
        lease = self.leases.get(client)
        if lease is None:
            if len(self.leases) > 10_000:
                now = time.monotonic()
                self.leases = {c: kept for c, kept in self.leases.items() if kept.until > now or kept.renewal.locked()}
            lease = self.leases[client] = Lease()
        if lease.take():
            return
        async with lease.renewal:
            # The client's requests arrive together: only the first takes a new lease, the others share it.
            if not lease.take():
                await self._renew(client, lease)

    async def _renew(self, client: str, lease: Lease) -> None:
        now = time.monotonic()
        blocked(await self.redis.get(self.block_key(client)))
        # Used up in time: the client asks often, so take more at once. Expired: start again from one.
        size = min(lease.size * 2, self.max_lease) if now < lease.until else 1
        if size > 1 and await self._exceeded(self.lookups, "lookup", client, size) is not None:
            size = 1
        if size == 1 and (item := await self._exceeded(self.lookups, "lookup", client, 1)) is not None:
            stats = await self.limiter.get_window_stats(item, "lookup", client)
            raise too_many(f"more than {item} lookups from this address", stats.reset_time)
        lease.size, lease.left, lease.until = size, size - 1, now + LEASE_SECONDS

    async def _exceeded(self, items: list[RateLimitItem], kind: str, client: str, cost: int) -> RateLimitItem | None:
        """Counts `cost` against each of these limits in turn; the first one it would exceed, if any."""
        for item in items:
            if not await self.limiter.hit(item, kind, client, cost=cost):
                return item
        return None

    async def missed(self, client: str | None) -> None:
        """Counts a lookup that found nothing; past the miss limits the client is blocked for a while."""
        if client is None:
            return
        if (item := await self._exceeded(self.misses, "miss", client, 1)) is not None:
            stats = await self.limiter.get_window_stats(item, "miss", client)
            until = max(stats.reset_time, time.time() + 1)
            await self.redis.set(self.block_key(client), f"{until:.0f}", exat=math.ceil(until))
            # This worker refuses the client's next lookup too, not only at its next lease; a renewal in flight
            # fills the dropped lease, which nothing takes from any more.
            self.leases.pop(client, None)
            raise too_many(f"more than {item} lookups that found nothing from this address", until)


def too_many(reason: str, until: float) -> HTTPException:
    retry_after = max(1, math.ceil(until - time.time()))
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"{reason}: please wait {retry_after} s (查询过于频繁，请 {retry_after} 秒后再试)",
        headers={"Retry-After": str(retry_after)},
    )


def blocked(until: str | bytes | None) -> None:
    """Raises 429 if this block of a client is still in force."""
    if until is not None and float(until) > time.time():
        raise too_many("too many lookups that found nothing from this address", float(until))
