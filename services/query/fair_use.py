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

Taking a lease is one Redis call (`TAKE_LEASE`, a Lua script, atomic): it reads the block, then counts the lease
against every lookup limit at once, in the `limits` library's own sliding-window-counter keys and arithmetic (its
`acquire_sliding_window.lua`, so `limits` reads the same windows for Retry-After and counts the misses as before):
the lease if every limit has room for it, else one lookup if every limit has room for one, else nothing. Nothing is
counted against one limit when another refuses. Among many distinct clients (the public at large behind a reverse
proxy) nearly every lookup is a client's first and takes a lease, so this call is most of what fair use costs.
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
from redis.commands.core import AsyncScript

from shared.platform.auth import PARTNER_HEADER

PARTNER_HEADER_NAME = PARTNER_HEADER.lower().encode()  # as ASGI servers hand header names over
FORWARDED_FOR = b"x-forwarded-for"
LEASE_SECONDS = 1.0
MAX_LEASE = 64
PRUNE_AT = 10_000  # leases kept per worker before the expired ones are dropped

# KEYS: the client's block, then each lookup limit's previous and current window (limits' keys), then optionally a
# document to read once the lease is counted. ARGV: the lease wanted, the time (epoch seconds, to compare the block's
# end with), then each limit's amount and expiry (seconds). Answers {lookups granted, the block's end if in force or
# false, the 1-based index of the limit that refused one lookup or 0, the document or false}. Per limit, the window
# shift and the weighted count are those of limits' acquire_sliding_window.lua (5.x); a lease is counted only when
# every limit has room for it, and the document is read only then.
TAKE_LEASE = """
local block = redis.call('get', KEYS[1])
if block and tonumber(block) > tonumber(ARGV[2]) then
    return {0, block, 0, false}
end
local limits = #ARGV / 2 - 1
local weighted, present = {}, {}
for i = 1, limits do
    local previous_key, current_key = KEYS[2 * i], KEYS[2 * i + 1]
    local expiry = tonumber(ARGV[2 * i + 2]) * 1000
    local current_ttl = redis.call('pttl', current_key)
    if current_ttl > 0 and current_ttl < expiry then
        -- The current window is over: it becomes the previous one.
        redis.call('rename', current_key, previous_key)
        redis.call('set', current_key, 0, 'PX', current_ttl + expiry)
    end
    local counts = redis.call('mget', previous_key, current_key)
    local previous_count = tonumber(counts[1]) or 0
    local previous_ttl = 0
    if previous_count > 0 then
        previous_ttl = math.max(redis.call('pttl', previous_key), 0)
    end
    present[i] = counts[2]
    weighted[i] = math.floor(previous_count * previous_ttl / expiry) + (tonumber(counts[2]) or 0)
end
local function refusing(amount)
    for i = 1, limits do
        if weighted[i] + amount > tonumber(ARGV[2 * i + 1]) then
            return i
        end
    end
    return 0
end
local amount = tonumber(ARGV[1])
if amount > 1 and refusing(amount) ~= 0 then
    amount = 1
end
local refused = refusing(amount)
if refused ~= 0 then
    return {0, false, refused, false}
end
for i = 1, limits do
    local current_key = KEYS[2 * i + 1]
    if present[i] then
        redis.call('incrby', current_key, amount)
    else
        redis.call('set', current_key, amount, 'PX', tonumber(ARGV[2 * i + 2]) * 2000)
    end
end
local document = false
if #KEYS > 2 * limits + 1 then
    document = redis.call('get', KEYS[#KEYS])
end
return {amount, false, 0, document}
"""


@dataclass
class Lease:
    """Lookups a worker took for one client from the limits, and may hand out until `until` (monotonic).
    One request at a time takes a new lease (`renewal`); the client's other requests wait and share it."""

    keys: list[str]  # the block's and the lookup limits' Redis keys, made once per client
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
        self.limits_prefix = f"{prefix}fair-use"
        self.storage = RedisStorage(
            redis_url.replace("redis://", "async+redis://", 1), implementation="redispy", key_prefix=self.limits_prefix
        )
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.take_lease: AsyncScript = redis.register_script(TAKE_LEASE)
        self.lookups: list[RateLimitItem] = parse_many(lookups)
        self.misses: list[RateLimitItem] = parse_many(misses)
        self.partner_keys = [key.encode() for key in partner_keys if key]
        self.prefix = prefix
        self.max_lease = max(1, min([MAX_LEASE, *(item.amount // 20 for item in self.lookups)]))
        self.leases: dict[str, Lease] = {}
        self.pruned = 0.0
        # Each lookup limit's amount and expiry, as TAKE_LEASE reads them after the lease's size and the time.
        self.limit_arguments = [value for item in self.lookups for value in (item.amount, item.get_expiry())]
        # Each lookup limit's current window key around the client: `<key prefix>:{<namespace>/lookup/` + client +
        # `/<amount>/<multiples>/<granularity>}` (limits' RateLimitItem.key_for; tested against it).
        self.lookup_key_templates: list[tuple[str, str]] = []
        for item in self.lookups:
            before, after = self.window_keys(item, "lookup", "\0")[1].split("\0")
            self.lookup_key_templates.append((before, after))
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

    def window_keys(self, item: RateLimitItem, kind: str, client: str) -> tuple[str, str]:
        """The previous and current window keys of `limits`' sliding window counter for this limit and client (its
        RedisStorage: `<key prefix>:{<key>}/-1` and `<key prefix>:{<key>}`)."""
        current = f"{self.limits_prefix}:{{{item.key_for(kind, client)}}}"
        return f"{current}/-1", current

    def lease_keys(self, client: str) -> list[str]:
        """The block's key and the lookup limits' window keys, as `window_keys` makes them: from templates, since a
        new client's keys are made with every first lookup (`item.key_for` costs a few microseconds a key)."""
        keys = [self.block_key(client)]
        for before, after in self.lookup_key_templates:
            current = before + client + after
            keys += (current + "/-1", current)
        return keys

    async def admit(self, client: str | None) -> None:
        """Counts one lookup, from this worker's lease for the client or a new one; 429 when the client has
        used its share."""
        if client is not None:
            await self.admit_and_read(client, None)

    async def admit_and_read(self, client: str | None, key: str | None) -> bytes | None:
        """`admit`, then the value of this Redis key (None if there is none): when the client needs a new lease,
        read in the same Redis call that takes it, once it is counted. The public lookup's one round trip."""
        if client is not None:
            lease = self.leases.get(client)
            if lease is None:
                if len(self.leases) > PRUNE_AT:
                    self._prune()
                lease = self.leases[client] = Lease(self.lease_keys(client))
            if not lease.take():
                async with lease.renewal:
                    # The client's requests arrive together: only the first takes a new lease, the others share it.
                    if not lease.take():
                        return await self._renew(client, lease, key)
        return None if key is None else await self.redis.get(key)  # type: ignore[return-value]

    def _prune(self) -> None:
        """Drops the expired leases (not one being renewed), at most once a lease's time: among more live clients
        than PRUNE_AT, a new client would otherwise cost a pass over them all."""
        now = time.monotonic()
        if now - self.pruned < LEASE_SECONDS:
            return
        self.pruned = now
        self.leases = {c: kept for c, kept in self.leases.items() if kept.until > now or kept.renewal.locked()}

    async def _renew(self, client: str, lease: Lease, key: str | None) -> bytes | None:
        now = time.monotonic()
        # Used up in time: the client asks often, so take more at once. Expired: start again from one.
        size = min(lease.size * 2, self.max_lease) if now < lease.until else 1
        keys = lease.keys if key is None else [*lease.keys, key]
        granted, block, refused, document = await self.take_lease(keys, [size, time.time(), *self.limit_arguments])
        blocked(block)
        if not granted:
            item = self.lookups[refused - 1]
            stats = await self.limiter.get_window_stats(item, "lookup", client)
            raise too_many(f"more than {item} lookups from this address", stats.reset_time)
        lease.size, lease.left, lease.until = granted, granted - 1, now + LEASE_SECONDS
        return document  # type: ignore[no-any-return]

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
