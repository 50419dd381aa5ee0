"""What makes a rebuild from the log fast keeps what the read model shows: the holder's claims hidden as the kernel
hides them, certificates that came before their organization's filing verified again in a few transactions (not
one each), and a rebuild watch that outlives a broker not ready to answer for its groups yet (issue 20)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka.errors import CoordinatorNotAvailableError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis

from services.query import rebuild as rebuild_module
from services.query.rebuild import RebuildWatch
from services.query.store import HOLDER_CLAIMS, CertificateStore, without_holder_claims
from shared.kernel import credentials
from tests.service.test_query_store import ORGANIZATION, filed, issued, published_key, signed


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[CertificateStore]:
    redis = Redis.from_url(redis_url)
    yield CertificateStore(redis, b"test-id-hash-key", f"t{uuid.uuid4().hex[:10]}:")
    await redis.aclose()


def test_the_holders_claims_are_hidden_as_the_kernel_hides_them() -> None:
    key = Ed25519PrivateKey.generate()
    credential = signed(issued(1), key, "33-key-1")
    before = credentials.canonical_json(credential)
    hidden = without_holder_claims(credential)
    assert hidden == credentials.hide_claims(credential, HOLDER_CLAIMS)
    assert credentials.canonical_json(credential) == before, "the event's credential is left as it came"
    trust = credentials.TrustList(
        keys=[credentials.TrustedKey.model_validate(published_key(key, "33-key-1").model_dump())]
    )
    assert credentials.verify(hidden, trust=trust).verified


async def test_certificates_before_their_filing_are_verified_again_together(
    store: CertificateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebuild reads every topic at once: a filing's event often comes after thousands of its certificates.
    key = Ed25519PrivateKey.generate()
    await store.apply_signing_key(published_key(key, "33-key-1"))
    certificates = [issued(serial, signed(issued(serial), key, "33-key-1")) for serial in range(1, 1201)]
    for start in range(0, len(certificates), 500):
        await store.apply_issued_many(certificates[start : start + 500])
    numbers = [c.certificate_number for c in certificates]

    async def organization_checks() -> set[bool | None]:
        views = await store.views(numbers)
        assert len(views) == len(numbers)
        return {c["passed"] for v in views for c in v["verification"]["checks"] if c["name"] == "organization"}

    assert await organization_checks() == {None}
    transactions = 0
    transaction = store.redis.transaction

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await transaction(*args, **kwargs)

    monkeypatch.setattr(store.redis, "transaction", counted)
    await store.apply_filed(filed())
    assert await organization_checks() == {True}
    # The catalogue's entry, then a thousand certificates a transaction: not 1,200 transactions.
    assert transactions <= 3
    assert await store.redis.hlen(store.key("unverified")) == 0
    assert await store.redis.scard(store.key("awaiting", f"org:{ORGANIZATION}")) == 0


class _Offsets:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _FlakyAdmin:
    """An admin client whose first answer for the groups' offsets is an error, as on a broker that has no group
    coordinator yet (its offsets topic is being made)."""

    calls = 0

    def __init__(self, **_: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_consumer_group_offsets(self, group: str) -> dict[Any, _Offsets]:
        _FlakyAdmin.calls += 1
        if _FlakyAdmin.calls == 1:
            raise CoordinatorNotAvailableError()
        return {"topic-0": _Offsets(10)}


async def test_the_rebuild_watch_outlives_a_broker_not_ready_for_its_groups(
    store: CertificateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rebuild_module, "AIOKafkaAdminClient", _FlakyAdmin)
    watch = RebuildWatch("127.0.0.1:1", store, {}, (), "skillcert", poll_seconds=0.01)
    task = asyncio.create_task(watch._watch(0.0, {"group": {"topic-0": 10}}))
    await asyncio.wait_for(task, 5)
    assert watch.caught_up and _FlakyAdmin.calls == 2
