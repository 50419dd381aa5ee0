"""The query read model keeps each certificate as the document it serves, its revocation merged in when it is
written: whichever of issue and revocation arrives first, and when both are applied at the same time. Its
verification waits for what has not arrived yet instead of failing on it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from redis.asyncio import Redis

from services.query import store as store_module
from services.query.store import CertificateStore
from shared.kernel import credentials
from shared.kernel.events import (
    ORGANIZATION_FILED,
    ORGANIZATION_STATUS_CHANGED,
    CertificateIssued,
    CertificateRevoked,
    Envelope,
    OrganizationFiled,
    OrganizationStatusChanged,
    SigningKeyPublished,
)
from tests.service import samples

ORGANIZATION = "S000033000001"
STATUS_LIST = "https://example.test/status/33/1"


def issued(serial: int, credential: dict[str, Any] | None = None) -> CertificateIssued:
    return CertificateIssued(
        certificate_number=f"{ORGANIZATION}264{serial:06d}",
        holder_name="张伟",
        id_type="resident_id",
        id_number="330106199001010011",
        occupation_code="6-18-01-01",
        occupation_name="车工",
        level=4,
        level_title="四级/中级工",
        organization_code=ORGANIZATION,
        organization_name="机械行业协会技能评价中心",
        province="33",
        issued_on=date(2026, 6, 1),
        batch_id="batch-1",
        credential=credential,
    )


def signed(certificate: CertificateIssued, key: Ed25519PrivateKey, key_id: str) -> dict[str, Any]:
    """The certificate's electronic credential, signed as a batch of one."""
    claims = {
        "certificateNumber": certificate.certificate_number,
        "holderName": certificate.holder_name,
        "idType": certificate.id_type,
        "idNumber": certificate.id_number,
        "occupationCode": certificate.occupation_code,
        "occupationName": certificate.occupation_name,
        "level": certificate.level,
        "levelTitle": certificate.level_title,
        "organizationCode": certificate.organization_code,
        "organizationName": certificate.organization_name,
        "province": certificate.province,
        "issuedOn": certificate.issued_on.isoformat(),
        "statusListCredential": STATUS_LIST,
        "statusListIndex": 1,
    }
    salts = credentials.new_salts(claims)
    leaf = bytes.fromhex(credentials.salted_target_hash(claims, salts))
    return credentials.credential_document(
        claims=claims,
        salts=salts,
        target=leaf.hex(),
        issuer_name="浙江省人力资源和社会保障厅",
        status=credentials.StatusEntry(STATUS_LIST, 1),
        key_id=key_id,
        merkle_root=leaf.hex(),
        merkle_proof=[],
        signature=credentials.sign_root(key, leaf),
        signed_at="2026-06-01",
    )


def published_key(key: Ed25519PrivateKey, key_id: str) -> SigningKeyPublished:
    """The trust list's entry of a province 33 signing key."""
    public_key = credentials.b64url(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    return SigningKeyPublished(key_id=key_id, province="33", valid_from=date(2026, 1, 1), public_key=public_key)


def filed() -> Envelope[OrganizationFiled]:
    """ORGANIZATION's filing (tests/service/samples.py: from 2026-01-05, 车工 at levels 3 to 5)."""
    return ORGANIZATION_FILED.make(
        province="33", subject=ORGANIZATION, payload=samples.organization_filed(ORGANIZATION)
    )


def revoked(certificate: CertificateIssued) -> CertificateRevoked:
    return CertificateRevoked(
        certificate_number=certificate.certificate_number,
        province="33",
        reason="fraud",
        detail="冒名顶替参加考试",
        revoked_on=date(2026, 9, 1),
        revoked_by="official-1",
        status_list="https://example.test/status/33",
        status_index=1,
    )


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
    await asyncio.gather(
        *(
            apply
            for certificate in certificates
            for apply in (store.apply_issued(certificate), store.apply_revoked(revoked(certificate)))
        )
    )
    views = await store.views([c.certificate_number for c in certificates])
    assert len(views) == len(certificates)
    assert [view["status"] for view in views] == ["revoked"] * len(certificates)
    # Holder lookups serve the same documents.
    numbers = await store.holder_numbers("张 伟", "330106199001010011")
    assert await store.documents(numbers) == await store.documents([c.certificate_number for c in certificates])


async def test_a_status_step_before_the_filing_leaves_the_organization_pending_not_failed(
    store: CertificateStore,
) -> None:
    # The registry publishes a filing and its status change on two topics: the status may arrive first.
    key = Ed25519PrivateKey.generate()
    await store.apply_signing_key(published_key(key, "33-key-1"))
    await store.apply_status_changed(
        ORGANIZATION_STATUS_CHANGED.make(
            province="33",
            subject=ORGANIZATION,
            payload=(
                OrganizationStatusChanged(
                    application_id=1,
                    filing_code=ORGANIZATION,
                    name="机械行业协会技能评价中心",
                    from_status="publicity",
                    to_status="filed",
                    action="register_filed",
                    actor="official-1",
                    actor_role="province_official",
                )
            ),
        )
    )
    certificate = issued(1)
    await store.apply_issued(issued(1, signed(certificate, key, "33-key-1")))

    async def checks() -> dict[str, bool | None]:
        [view] = await store.views([certificate.certificate_number])
        return {check["name"]: check["passed"] for check in view["verification"]["checks"]}

    assert await checks() == {"integrity": True, "signature": True, "organization": None, "status": True}
    await store.apply_filed(filed())
    assert await checks() == {"integrity": True, "signature": True, "organization": True, "status": True}


async def test_a_new_format_of_what_the_keys_hold_is_a_new_read_model(
    store: CertificateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_id, made = await store.model_id()
    assert made
    await store.record_rebuild(1.5, 10)
    assert await store.model_id() == (model_id, False)
    # A release that stores documents of another shape: new consumer groups, read from the start of the log.
    monkeypatch.setattr(store_module, "READ_MODEL_FORMAT", "next")
    new_id, made = await store.model_id()
    assert made and new_id != model_id
    info = await store.model_info()
    assert info["format"] == "next" and "rebuilt_in_seconds" not in info


async def test_a_signing_key_arriving_while_a_certificate_is_verified_is_not_missed(
    store: CertificateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Ed25519PrivateKey.generate()
    published = published_key(key, "33-key-2")
    certificate = issued(2)
    trust_of = store._trust_of

    async def key_arrives_meanwhile(credentials_: list[dict[str, Any]]) -> Any:
        # The key event is applied after the certificate's check found no key, and before it was recorded as
        # waiting for one: the key's own re-verification finds nothing waiting.
        found = await trust_of(credentials_)
        monkeypatch.setattr(store, "_trust_of", trust_of)
        await store.apply_signing_key(published)
        return found

    monkeypatch.setattr(store, "_trust_of", key_arrives_meanwhile)
    await store.apply_issued(issued(2, signed(certificate, key, "33-key-2")))
    [view] = await store.views([certificate.certificate_number])
    assert {check["name"]: check["passed"] for check in view["verification"]["checks"]}["signature"] is True


async def test_certificates_applied_together_are_stored_as_one_by_one(store: CertificateStore) -> None:
    """What a fetched batch is applied with (`apply_issued_many`, one transaction) comes to what each event applied
    alone comes to: the revocation that came first kept, the signature checked, the holder's lookup filled; and it
    never undoes a revocation applied at the same moment."""
    key = Ed25519PrivateKey.generate()
    await store.apply_signing_key(published_key(key, "33-key-3"))
    certificates = [issued(serial) for serial in range(101, 161)]
    certificates = [
        issued(serial, signed(c, key, "33-key-3")) for serial, c in zip(range(101, 161), certificates, strict=True)
    ]
    alone, together = certificates[:30], certificates[30:]
    await store.apply_revoked(revoked(alone[0]))
    await store.apply_revoked(revoked(together[0]))
    for certificate in alone:
        await store.apply_issued(certificate)
    await asyncio.gather(store.apply_issued_many(together), *(store.apply_revoked(revoked(c)) for c in together[-5:]))

    def shown(view: dict[str, Any]) -> tuple[Any, ...]:
        checks = {check["name"]: check["passed"] for check in view["verification"]["checks"]}
        return view["status"], checks["signature"], checks["integrity"]

    views_alone = await store.views([c.certificate_number for c in alone])
    views_together = await store.views([c.certificate_number for c in together])
    assert [shown(v) for v in views_together[:-5]] == [shown(v) for v in views_alone[:25]]
    assert shown(views_together[0]) == ("revoked", True, True)
    assert [v["status"] for v in views_together[-5:]] == ["revoked"] * 5
    numbers = await store.holder_numbers("张伟", "330106199001010011")
    assert set(numbers) >= {c.certificate_number for c in certificates}
