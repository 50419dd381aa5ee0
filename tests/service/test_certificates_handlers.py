"""Certificates' consumers (services/certificates/flows.py): this province's approved batches and corrections;
every province's trust list, revocations and organizations' filing history."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlmodel import col

from services.certificates import flows, service
from services.certificates.models import (
    BatchIssue,
    Certificate,
    CertificateRevocation,
    CertificateStatus,
    OrganizationRecord,
    SignedBatch,
    SigningKey,
)
from shared.kernel.events import (
    BATCH_RESULT_CORRECTED,
    BATCH_RESULTS_APPROVED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
)
from shared.platform.outbox import OutboxEvent
from tests.service import samples
from tests.service.conftest import ServiceBus

TESTED = {
    BATCH_RESULTS_APPROVED.type,
    BATCH_RESULT_CORRECTED.type,
    SIGNING_KEY_PUBLISHED.type,
    CERTIFICATE_REVOKED.type,
    ORGANIZATION_FILED.type,
    ORGANIZATION_STATUS_CHANGED.type,
    ORGANIZATION_SCOPE_CHANGED.type,
}
OTHER = "32"  # another province, whose events come by topic pattern
OTHER_ORGANIZATION = "S000032000001"


def test_every_certificates_handler_is_tested_here() -> None:
    assert {contract.type for contract in flows.consumer.contracts} == TESTED


def outbox(bus: ServiceBus, event_type: str) -> list[dict[str, Any]]:
    rows = bus.rows(OutboxEvent, OutboxEvent.event_type == event_type, order_by=col(OutboxEvent.seq))
    return [json.loads(row.body) for row in rows]


def certificates_of(bus: ServiceBus, batch_id: str = samples.BATCH) -> list[Certificate]:
    return bus.rows(Certificate, Certificate.batch_id == batch_id, order_by=col(Certificate.candidate_id))


async def test_an_approved_batch_is_numbered_signed_and_announced_once(certificates: ServiceBus) -> None:
    event = samples.envelope(samples.batch_results(count=2))
    await certificates.deliver(event)
    issued = certificates_of(certificates)
    assert [c.candidate_id for c in issued] == ["c0", "c1"]
    assert all(c.signed_batch_id == f"{samples.BATCH}/part-1" and c.merkle_proof for c in issued)
    assert [c.number[:16] for c in issued] == [f"{samples.ORGANIZATION}{certificates.runtime.clock.today():%y}4"] * 2
    [signed] = certificates.rows(SignedBatch)
    assert (signed.certificates, signed.key_id[:2]) == (2, "33")
    assert certificates.count(SigningKey, SigningKey.province == "33") == 1  # the first signing made the key
    [progress] = certificates.rows(BatchIssue)
    assert progress.received_parts == [1]
    announced = outbox(certificates, CERTIFICATE_ISSUED.type)
    assert sorted(e["subject"] for e in announced) == [c.number for c in issued]
    assert all(e["payload"]["credential"] for e in announced)

    await certificates.deliver(event)  # delivered again
    assert certificates.count(Certificate) == 2
    assert certificates.count(SignedBatch) == 1
    assert len(outbox(certificates, CERTIFICATE_ISSUED.type)) == 2
    assert certificates.processed() == 1


async def test_each_part_of_a_batch_is_signed_and_announced_as_it_arrives(certificates: ServiceBus) -> None:
    first = samples.batch_results(count=2).model_copy(update={"parts": 2})
    second = samples.batch_results(count=3).model_copy(update={"part": 2, "parts": 2})
    second = second.model_copy(update={"passed": second.passed[2:]})
    await certificates.deliver(samples.envelope(first))
    assert certificates.count(Certificate, col(Certificate.signed_batch_id) == f"{samples.BATCH}/part-1") == 2
    assert len(outbox(certificates, CERTIFICATE_ISSUED.type)) == 2  # public before the last part is in
    await certificates.deliver(samples.envelope(second))
    assert certificates.count(Certificate, col(Certificate.signed_batch_id) == f"{samples.BATCH}/part-2") == 1
    assert [s.certificates for s in certificates.rows(SignedBatch, order_by=col(SignedBatch.id))] == [2, 1]
    assert len(outbox(certificates, CERTIFICATE_ISSUED.type)) == 3


async def test_another_provinces_batch_is_not_certified_here(certificates: ServiceBus) -> None:
    batch = samples.batch_results(organization=OTHER_ORGANIZATION)
    await certificates.deliver(samples.envelope(batch, province=OTHER))
    assert certificates.count(Certificate) == 0
    assert certificates.processed() == 0


async def test_a_correction_that_fails_a_candidate_revokes_the_certificate_once(certificates: ServiceBus) -> None:
    await certificates.deliver(samples.envelope(samples.batch_results(count=2)))
    number = certificates_of(certificates)[0].number
    event = samples.envelope(samples.correction(0, passed_now=False))

    await certificates.deliver(event)
    await certificates.deliver(event)
    statuses = [c.status for c in certificates_of(certificates)]
    assert statuses == [CertificateStatus.REVOKED, CertificateStatus.VALID]
    [revocation] = certificates.rows(CertificateRevocation)
    assert (revocation.certificate_number, revocation.reason) == (number, "error")
    assert revocation.detail.startswith("result corrected (correction 1)")
    [announced] = outbox(certificates, CERTIFICATE_REVOKED.type)
    assert announced["subject"] == number
    assert certificates.processed() == 2


async def test_a_correction_that_passes_a_candidate_certifies_them_alone_once(certificates: ServiceBus) -> None:
    await certificates.deliver(samples.envelope(samples.batch_results(count=2)))
    event = samples.envelope(samples.correction(5, passed_now=True, correction_id=7))

    await certificates.deliver(event)
    await certificates.deliver(event)
    [added] = [c for c in certificates_of(certificates) if c.candidate_id == "c5"]
    assert added.signed_batch_id == f"{samples.BATCH}/correction-7"
    assert certificates.count(Certificate) == 3
    assert certificates.count(SignedBatch) == 2
    assert len(outbox(certificates, CERTIFICATE_ISSUED.type)) == 3


async def test_every_provinces_signing_key_joins_the_trust_list_once(certificates: ServiceBus) -> None:
    in_use = samples.envelope(samples.signing_key(), province=OTHER)
    await certificates.deliver(in_use)
    [key] = certificates.rows(SigningKey, SigningKey.key_id == samples.KEY_ID)
    assert (key.province, key.valid_until) == (OTHER, None)

    retired = samples.envelope(samples.signing_key(valid_until=date(2026, 6, 30)), province=OTHER)
    await certificates.deliver(retired, topic=f"zj.{certificates.topic(SIGNING_KEY_PUBLISHED, OTHER)}")  # mirrored
    await certificates.deliver(in_use)  # the first announcement again does not bring the key back into service
    [key] = certificates.rows(SigningKey, SigningKey.key_id == samples.KEY_ID)
    assert key.valid_until == date(2026, 6, 30)
    assert certificates.processed() == 2


async def test_every_provinces_revocation_is_kept_once(certificates: ServiceBus) -> None:
    number = samples.certificate_number(OTHER_ORGANIZATION)
    event = samples.envelope(samples.certificate_revoked(number), province=OTHER)
    await certificates.deliver(event)
    await certificates.deliver(event)
    [revocation] = certificates.rows(CertificateRevocation)
    assert (revocation.certificate_number, revocation.province, revocation.reason) == (number, OTHER, "fraud")
    assert (revocation.status_list, revocation.status_index) == (event.payload.status_list, 7)
    assert outbox(certificates, CERTIFICATE_REVOKED.type) == []  # kept, not announced again
    assert certificates.processed() == 1


def history(bus: ServiceBus, code: str = OTHER_ORGANIZATION) -> list[tuple[str, str | None]]:
    rows = bus.rows(OrganizationRecord, OrganizationRecord.filing_code == code, order_by=col(OrganizationRecord.id))
    return [(row.kind, row.status) for row in rows]


async def test_every_provinces_filing_is_recorded_once(certificates: ServiceBus) -> None:
    event = samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER)
    await certificates.deliver(event)
    await certificates.deliver(event)  # the record is not idempotent by itself: apply-once keeps it single
    assert history(certificates) == [("filed", "filed")]
    [record] = certificates.rows(OrganizationRecord)
    assert (record.effective_on, record.valid_until) == (samples.FILED_ON, event.payload.valid_until)
    assert record.scope is not None and record.scope[0]["levels"] == [5, 4, 3]


async def test_every_provinces_status_change_is_recorded_once(certificates: ServiceBus) -> None:
    event = samples.envelope(samples.status_changed(OTHER_ORGANIZATION), province=OTHER)
    await certificates.deliver(event)
    await certificates.deliver(event)
    assert history(certificates) == [("status", "suspended")]
    [record] = certificates.rows(OrganizationRecord)
    assert record.effective_on == event.occurred_on
    await certificates.deliver(samples.envelope(samples.status_changed(None, to_status="accepted"), province=OTHER))
    assert certificates.count(OrganizationRecord) == 1  # before filing: nothing to keep
    assert certificates.processed() == 2


async def test_a_step_is_dated_by_the_registrys_clock_not_by_when_it_was_sent(certificates: ServiceBus) -> None:
    """In a training deployment the registry files and suspends on its moved date; verification replays the
    history by those dates, so a suspension sent on a real day before the moved filing day still counts."""
    filed = samples.organization_filed(OTHER_ORGANIZATION).model_copy(
        update={"filed_on": date(2027, 3, 1), "valid_until": date(2030, 2, 28)}
    )
    suspended = samples.status_changed(OTHER_ORGANIZATION).model_copy(update={"effective_on": date(2027, 3, 10)})
    await certificates.deliver(samples.envelope(filed, province=OTHER))
    await certificates.deliver(samples.envelope(suspended, province=OTHER))
    with certificates.unit() as unit:
        before = service.filing_check(
            unit=unit,
            organization_code=OTHER_ORGANIZATION,
            occupation_code="6-18-01-01",
            level=4,
            on=date(2027, 3, 5),
        )
        after = service.filing_check(
            unit=unit,
            organization_code=OTHER_ORGANIZATION,
            occupation_code="6-18-01-01",
            level=4,
            on=date(2027, 3, 11),
        )
    assert before is not None and before[0] is True
    assert after is not None and after[0] is False and "suspended" in after[1]


async def test_every_provinces_scope_change_is_recorded_once(certificates: ServiceBus) -> None:
    event = samples.envelope(samples.scope_changed(OTHER_ORGANIZATION, levels=[5, 4, 3, 2]), province=OTHER)
    await certificates.deliver(event)
    await certificates.deliver(event)
    assert history(certificates) == [("scope", None)]
    [record] = certificates.rows(OrganizationRecord)
    assert record.scope is not None and record.scope[0]["levels"] == [5, 4, 3, 2]
    assert certificates.processed() == 1


async def test_this_provinces_own_events_come_by_the_same_pattern(certificates: ServiceBus) -> None:
    await certificates.deliver(samples.envelope(samples.organization_filed()))
    assert history(certificates, samples.ORGANIZATION) == [("filed", "filed")]
