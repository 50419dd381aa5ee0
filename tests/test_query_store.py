"""The query read model keeps each certificate as the document it serves, its revocation merged in when it is
written: whichever of issue and revocation arrives first, and when both are applied at the same time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
from redis.asyncio import Redis

from services.query.store import CertificateStore
from shared.events import CertificateIssued, CertificateRevoked


def issued(serial: int) -> CertificateIssued:
    return CertificateIssued(
        certificate_number=f"S000033000001264{serial:06d}", holder_name="张伟", id_type="resident_id",
        id_number="330106199001010011", occupation_code="6-18-01-01", occupation_name="车工", level=4,
        level_title="四级/中级工", organization_code="S000033000001", organization_name="机械行业协会技能评价中心",
        province="33", issued_on=date(2026, 6, 1), batch_id="batch-1")


def revoked(certificate: CertificateIssued) -> CertificateRevoked:
    return CertificateRevoked(certificate_number=certificate.certificate_number, province="33", reason="fraud",
                              detail="冒名顶替参加考试", revoked_on=date(2026, 9, 1), revoked_by="official-1",
                              status_list="https://example.test/status/33", status_index=1)


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[CertificateStore]:
    redis = Redis.from_url(redis_url)
    yield CertificateStore(redis, b"test-id-hash-key", f"t{uuid.uuid4().hex[:10]}:")
    await redis.aclose()


async def test_a_revocation_arriving_first_is_served_with_the_certificate(store: CertificateStore) -> None:
    certificate = issued(1)
    await store.apply_revoked(revoked(certificate))
    assert await store.documents([certificate.certificate_number]) == []
    await store.apply_issued(certificate)
    [view] = await store.views([certificate.certificate_number])
    assert (view["status"], view["revoked_on"], view["revocation_reason"]) == ("revoked", "2026-09-01", "fraud")
    assert view["verification"]["verified"] is False
    assert {c["name"]: c["passed"] for c in view["verification"]["checks"]}["status"] is False
    # The issue event read again (a replay, a rebuild) does not bring the certificate back to valid.
    await store.apply_issued(certificate)
    assert [v["status"] for v in await store.views([certificate.certificate_number])] == ["revoked"]


async def test_an_issue_and_a_revocation_applied_at_once_never_undo_each_other(store: CertificateStore) -> None:
    # Two consumers (or two workers) apply them concurrently: each reads the other's key before it writes.
    certificates = [issued(serial) for serial in range(1, 41)]
    await asyncio.gather(*(apply for certificate in certificates for apply in (
        store.apply_issued(certificate), store.apply_revoked(revoked(certificate)))))
    views = await store.views([c.certificate_number for c in certificates])
    assert len(views) == len(certificates)
    assert [view["status"] for view in views] == ["revoked"] * len(certificates)
    # Holder lookups serve the same documents.
    numbers = await store.holder_numbers("张 伟", "330106199001010011")
    assert await store.documents(numbers) == await store.documents([c.certificate_number for c in certificates])
