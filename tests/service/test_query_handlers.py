"""The query service's consumers (services/query/flows.py): every province's events into the read model in Redis.
It keeps no apply-once record: each write is idempotent, so an event delivered again changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from services.query import flows
from services.query.store import CertificateStore
from shared.kernel.events import (
    BATCH_PLAN_APPROVED,
    CERTIFICATE_ISSUED,
    CERTIFICATE_REVOKED,
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    SIGNING_KEY_PUBLISHED,
)
from tests.service import samples
from tests.service.conftest import ServiceBus
from tests.service.test_query_inspections import TESTED as TESTED_IN_INSPECTIONS
from tests.service.test_query_inspections import get, public, sent_at

TESTED = {
    CERTIFICATE_ISSUED.type,
    CERTIFICATE_REVOKED.type,
    SIGNING_KEY_PUBLISHED.type,
    ORGANIZATION_FILED.type,
    ORGANIZATION_STATUS_CHANGED.type,
    ORGANIZATION_SCOPE_CHANGED.type,
    ORGANIZATION_DETAILS_CHANGED.type,
    BATCH_PLAN_APPROVED.type,
}
OTHER = "32"
OTHER_ORGANIZATION = "S000032000001"


def test_every_query_handler_is_tested_here() -> None:
    """Here, or (supervision's plans, draws and inspections) in test_query_inspections.py."""
    assert {contract.type for contract in flows.consumer.contracts} == TESTED | TESTED_IN_INSPECTIONS


def store_of(bus: ServiceBus) -> CertificateStore:
    assert bus.store is not None
    return bus.store


async def view(bus: ServiceBus, number: str) -> dict[str, Any] | None:
    views = await store_of(bus).views([number])
    return views[0] if views else None


async def organization_entry(bus: ServiceBus, code: str = OTHER_ORGANIZATION) -> dict[str, Any]:
    [entry] = [e for e in await store_of(bus).catalogue("organizations") if e["filing_code"] == code]
    return entry


async def test_an_issued_certificate_is_on_record_once(query: ServiceBus) -> None:
    number = samples.certificate_number(OTHER_ORGANIZATION)
    event = samples.envelope(samples.certificate_issued(number), province=OTHER)
    await query.deliver(event)
    stored = await view(query, number)
    assert stored is not None
    assert (stored["status"], stored["province"], stored["holder_name"]) == ("valid", OTHER, event.payload.holder_name)
    assert event.payload.id_number not in str(stored)  # only the masked ID is public
    holder = (event.payload.holder_name, event.payload.id_number)

    await query.deliver(event)
    assert await store_of(query).holder_numbers(*holder) == [number]
    assert await view(query, number) == stored


async def test_a_revocation_marks_the_certificate_revoked_once(query: ServiceBus) -> None:
    number = samples.certificate_number(OTHER_ORGANIZATION)
    await query.deliver(samples.envelope(samples.certificate_issued(number), province=OTHER))
    revoked = samples.envelope(samples.certificate_revoked(number), province=OTHER)
    await query.deliver(revoked)
    await query.deliver(revoked)
    stored = await view(query, number)
    assert stored is not None
    assert (stored["status"], stored["revoked_on"], stored["revocation_reason"]) == ("revoked", "2026-03-20", "fraud")


async def test_a_revocation_before_its_certificate_waits_for_it(query: ServiceBus) -> None:
    number = samples.certificate_number(OTHER_ORGANIZATION)
    await query.deliver(samples.envelope(samples.certificate_revoked(number), province=OTHER))
    assert await view(query, number) is None
    await query.deliver(samples.envelope(samples.certificate_issued(number), province=OTHER))
    stored = await view(query, number)
    assert stored is not None and stored["status"] == "revoked"


async def test_a_signing_key_joins_the_trust_list_once(query: ServiceBus) -> None:
    store = store_of(query)
    event = samples.envelope(samples.signing_key(), province=OTHER)
    await query.deliver(event)
    await query.deliver(event)
    keys: dict[bytes, bytes] = await store.redis.hgetall(store.key("keys"))  # type: ignore[assignment]
    assert list(keys) == [samples.KEY_ID.encode()]
    assert event.payload.public_key in keys[samples.KEY_ID.encode()].decode()


async def test_a_filing_enters_the_catalogue_once(query: ServiceBus) -> None:
    store = store_of(query)
    event = samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER)
    await query.deliver(event)
    await query.deliver(event)
    entry = await organization_entry(query)
    assert (entry["status"], entry["province"], entry["valid_until"]) == ("filed", OTHER, "2029-01-04")
    assert "credit_code" not in entry
    # The catalogue shows 地址、联系人、联系方式 [L10 附件4].
    assert (entry["address"], entry["contact"], entry["phone"]) == (
        event.payload.address,
        event.payload.contact,
        event.payload.phone,
    )
    assert await store.redis.hlen(store.key("filing", OTHER_ORGANIZATION)) == 1  # one step of its history


async def test_a_status_change_updates_the_catalogue_once(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER))
    suspend = samples.envelope(samples.status_changed(OTHER_ORGANIZATION), province=OTHER)
    await query.deliver(suspend)
    assert (await organization_entry(query))["status"] == "suspended"

    reinstate = samples.status_changed(OTHER_ORGANIZATION, to_status="filed", from_status="suspended")
    await query.deliver(samples.envelope(reinstate, province=OTHER))
    await query.deliver(suspend)  # the suspension again: the reinstatement, later, stands
    assert (await organization_entry(query))["status"] == "filed"
    store = store_of(query)
    assert await store.redis.hlen(store.key("filing", OTHER_ORGANIZATION)) == 3


async def test_an_applications_step_before_filing_is_not_public(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(samples.status_changed(None, to_status="accepted"), province=OTHER))
    assert await store_of(query).catalogue("organizations") == []


async def test_an_approved_details_change_replaces_the_catalogues_contact_details(query: ServiceBus) -> None:
    """A change of information [L11; S附件3]: the new phone shows; the filing delivered again, or an earlier change
    delivered late, does not bring the old one back; a change before its filing shows once the filing is here."""
    filed = samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER)
    await query.deliver(filed)
    change = samples.envelope(samples.details_changed(OTHER_ORGANIZATION, phone="0571-86660000"), province=OTHER)
    await query.deliver(change)
    older = samples.details_changed(OTHER_ORGANIZATION, phone="0571-80000001").model_copy(update={"change_id": 9})
    await query.deliver(sent_at(samples.envelope(older, province=OTHER), change.occurred_at - timedelta(minutes=5)))
    await query.deliver(change)
    await query.deliver(filed)
    entry = await organization_entry(query)
    assert (entry["phone"], entry["address"], entry["name"]) == (
        "0571-86660000",
        change.payload.address,
        change.payload.name,
    )
    assert entry["sites"][0]["region"] == "330106" and "order" not in entry

    early = samples.details_changed("S000032000009", phone="025-80000000")
    await query.deliver(samples.envelope(early, province=OTHER))
    await query.deliver(samples.envelope(samples.organization_filed("S000032000009"), province=OTHER))
    [later] = [e for e in await store_of(query).catalogue("organizations") if e["filing_code"] == "S000032000009"]
    assert later["phone"] == "025-80000000"


async def test_changes_of_details_count_in_the_order_they_were_approved(query: ServiceBus) -> None:
    """Changes are approved in any order of their requests: the one approved last wins, whatever its id, by the
    registry's date of the change (a training deployment's moved date, not when the event happened to be sent)."""
    await query.deliver(samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER))
    requested_first = samples.details_changed(OTHER_ORGANIZATION, phone="0571-81111111").model_copy(
        update={"change_id": 3, "effective_on": date(2026, 5, 8)}
    )
    requested_later = samples.details_changed(OTHER_ORGANIZATION, phone="0571-82222222").model_copy(
        update={"change_id": 4, "effective_on": date(2026, 5, 6)}
    )
    await query.deliver(samples.envelope(requested_later, province=OTHER))
    await query.deliver(samples.envelope(requested_first, province=OTHER))
    assert (await organization_entry(query))["phone"] == "0571-81111111"
    # Sent again, late: it was approved before the other.
    await query.deliver(samples.envelope(requested_later, province=OTHER))
    assert (await organization_entry(query))["phone"] == "0571-81111111"


async def test_the_catalogue_api_shows_address_contact_and_phone(query: ServiceBus) -> None:
    """GET /organizations [L10 附件4]: 地址、联系人、联系方式 as filed, then as the approved change gives them; the
    credit code and the change's place in the order are not shown."""
    filed = samples.organization_filed(OTHER_ORGANIZATION)
    await query.deliver(samples.envelope(filed, province=OTHER))
    async with public(query) as client:
        [entry] = (await get(client, "/organizations"))["data"]
        assert (entry["address"], entry["contact"], entry["phone"]) == (filed.address, "李明", "0571-88886666")
        change = samples.details_changed(OTHER_ORGANIZATION, phone="0571-86660000")
        await query.deliver(samples.envelope(change, province=OTHER))
        [entry] = (await get(client, "/organizations", q="技能培训"))["data"]
    assert (entry["name"], entry["address"], entry["contact"], entry["phone"]) == (
        change.name,
        change.address,
        "王老师",
        "0571-86660000",
    )
    assert "credit_code" not in entry and "order" not in entry and entry["status"] == "filed"


async def test_a_scope_change_updates_the_catalogue_once(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(samples.organization_filed(OTHER_ORGANIZATION), province=OTHER))
    change = samples.envelope(samples.scope_changed(OTHER_ORGANIZATION, levels=[5, 4, 3, 2]), province=OTHER)
    await query.deliver(change)
    await query.deliver(change)
    assert (await organization_entry(query))["scope"][0]["levels"] == [5, 4, 3, 2]
    store = store_of(query)
    assert await store.redis.hlen(store.key("filing", OTHER_ORGANIZATION)) == 2


async def test_a_batch_plan_enters_the_years_plans_once(query: ServiceBus) -> None:
    event = samples.envelope(samples.batch_plan(organization=OTHER_ORGANIZATION), province=OTHER)
    await query.deliver(event)
    await query.deliver(event, topic=f"zj.{query.topic(BATCH_PLAN_APPROVED, OTHER)}")  # and its mirrored copy
    [plan] = await store_of(query).catalogue("batch-plans")
    assert (plan["batch_id"], plan["province"], plan["candidates"]) == (samples.BATCH, OTHER, 2)
