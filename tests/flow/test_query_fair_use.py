"""Fair use of the public lookup: per-client limits in Redis, misses slowing a guesser down, partners exempt."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from services.query import fair_use
from services.query.fair_use import LEASE_SECONDS
from shared.platform.auth import PARTNER_HEADER
from tests.harness import Environment, query_app

pytestmark = pytest.mark.kafka

NOBODY = "S000033000001264999999"  # a valid number nobody holds


@contextlib.asynccontextmanager
async def clients(env: Environment, **limits: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of one query app, each from its own address."""
    app = query_app(env, partner_keys=["partner-secret"], **limits)
    async with LifespanManager(app, startup_timeout=60) as manager, contextlib.AsyncExitStack() as stack:

        def from_address(address: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=manager.app, client=(address, 40000))
            made = httpx.AsyncClient(transport=transport, base_url="http://test")
            stack.push_async_callback(made.aclose)
            return made

        yield from_address


async def test_a_client_that_keeps_missing_waits_and_others_do_not(env: Environment) -> None:
    limits = {"lookup_limits": "1000/minute", "miss_limits": "3/minute"}
    async with clients(env, **limits) as client, clients(env, **limits) as other_worker:
        guesser, neighbour = client("203.0.113.7"), client("198.51.100.9")
        # The guesser asks both workers of the service for something first: each takes a lease for it.
        assert (await guesser.get("/organizations")).status_code == 200
        assert (await other_worker("203.0.113.7").get("/organizations")).status_code == 200
        for id_number in ("330106199001010011", "330106199001010038", "330106199001010054"):
            answer = await guesser.post("/holder-lookups", json={"name": "张伟", "id_number": id_number})
            assert answer.status_code == 200 and answer.json()["count"] == 0
        fourth = await guesser.post("/holder-lookups", json={"name": "张伟", "id_number": "330106199001010070"})
        assert fourth.status_code == 429
        assert 1 <= int(fourth.headers["Retry-After"]) <= 60
        assert "请" in fourth.json()["detail"]
        # Blocked for every lookup, not only those that miss, until the window has room again.
        for path in ("/organizations", f"/certificates/{NOBODY}"):
            refused = await guesser.get(path)
            assert refused.status_code == 429 and "Retry-After" in refused.headers
        # The other worker refuses the guesser too, at the latest once its lease has run out.
        await asyncio.sleep(LEASE_SECONDS)
        elsewhere = await other_worker("203.0.113.7").get("/organizations")
        assert elsewhere.status_code == 429 and "Retry-After" in elsewhere.headers
        # Another address is not affected; a name alone is refused outright and counts as nothing.
        assert (await neighbour.get(f"/certificates/{NOBODY}")).status_code == 404
        name_only = await neighbour.post("/holder-lookups", json={"name": "张伟"})
        assert name_only.status_code == 422 and name_only.json()["detail"][0]["field"] == "id_number"


async def test_the_lookup_limit_and_a_partner_system(env: Environment) -> None:
    async with clients(env, lookup_limits="5/minute", miss_limits="1000/minute") as client:
        public, partner = client("203.0.113.8"), client("203.0.113.8")
        partner.headers[PARTNER_HEADER] = "partner-secret"
        for _ in range(5):
            assert (await public.get("/organizations")).status_code == 200
        limited = await public.get("/organizations")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        # A recognition service checking a whole batch from the same address is not limited.
        for _ in range(20):
            assert (await partner.get(f"/certificates/{NOBODY}")).status_code == 404
        wrong_key = client("203.0.113.8")
        wrong_key.headers[PARTNER_HEADER] = "guess"
        assert (await wrong_key.get("/organizations")).status_code == 429


async def test_a_busy_client_is_counted_in_leases_and_gets_exactly_its_limit(
    env: Environment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leases outlive the test, whatever the machine's speed: what expires unused is not what is tested here.
    monkeypatch.setattr(fair_use, "LEASE_SECONDS", 60.0)
    app = query_app(env, lookup_limits="200/minute", miss_limits="1000/minute")
    fair = app.state.fair_use
    lease_calls = 0
    take_lease = fair.take_lease

    async def counted_take_lease(*args: Any, **kwargs: Any) -> Any:
        nonlocal lease_calls
        lease_calls += 1
        return await take_lease(*args, **kwargs)

    fair.take_lease = counted_take_lease
    async with (
        LifespanManager(app, startup_timeout=60) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 40000)), base_url="http://test"
        ) as busy,
    ):
        # Twenty at a time, as a page's lookups or a busy office's arrive: every one of the 200 is served
        # (concurrent requests share a new lease rather than each counting one), and not one more.
        for _ in range(10):
            answers = await asyncio.gather(*(busy.get("/organizations") for _ in range(20)))
            assert [answer.status_code for answer in answers] == [200] * 20
        refused = await busy.get("/organizations")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # Leases of up to a twentieth of the limit (10): far fewer Redis calls to count them than lookups.
    assert 0 < lease_calls < 200 / 5, lease_calls
