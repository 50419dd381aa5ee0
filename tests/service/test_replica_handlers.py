"""Recognition's and supervision's consumers (services/{recognition,supervision}/flows.py): both keep a replica
of this province's filed organizations (shared.platform.replicas) from the registry's four events. Every test
runs against each of the two services (the `replica` fixture)."""

from __future__ import annotations

import pytest

from services.recognition import flows as recognition_flows
from services.supervision import flows as supervision_flows
from shared.kernel.events import (
    ORGANIZATION_DETAILS_CHANGED,
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
)
from shared.platform.bus import EventTooEarly
from shared.platform.replicas import FiledOrganization
from tests.service import samples
from tests.service.conftest import ServiceBus

TESTED = {
    ORGANIZATION_FILED.type,
    ORGANIZATION_STATUS_CHANGED.type,
    ORGANIZATION_SCOPE_CHANGED.type,
    ORGANIZATION_DETAILS_CHANGED.type,
}
CODE = samples.ORGANIZATION


@pytest.mark.parametrize("flows", [recognition_flows, supervision_flows], ids=["recognition", "supervision"])
def test_every_replica_handler_is_declared(flows: object) -> None:
    """The replica's handlers are tested here; each service's own handlers in its own handler tests."""
    assert {contract.type for contract in flows.consumer.contracts} >= TESTED  # type: ignore[attr-defined]


def replica_of(bus: ServiceBus, code: str = CODE) -> FiledOrganization:
    [row] = bus.rows(FiledOrganization, FiledOrganization.filing_code == code)
    return row


async def test_a_filing_adds_the_organization_once(replica: ServiceBus) -> None:
    event = samples.envelope(samples.organization_filed())
    await replica.deliver(event)
    row = replica_of(replica)
    assert (row.status, row.name, row.province, row.city) == ("filed", event.payload.name, "33", "杭州市")
    assert row.scope == [
        {"occupation_code": "6-18-01-01", "occupation_name": "车工", "work_type": None, "levels": [5, 4, 3]}
    ]
    assert (row.filed_on, row.valid_until) == (samples.FILED_ON, event.payload.valid_until)

    await replica.deliver(samples.envelope(samples.status_changed()))  # suspended meanwhile
    await replica.deliver(event)  # the filing delivered again does not put it back to filed
    assert replica_of(replica).status == "suspended"
    assert replica.count(FiledOrganization) == 1
    assert replica.processed() == 2


async def test_a_status_change_applies_to_the_replica_once(replica: ServiceBus) -> None:
    await replica.deliver(samples.envelope(samples.organization_filed()))
    suspend = samples.envelope(samples.status_changed())
    await replica.deliver(suspend)
    assert replica_of(replica).status == "suspended"

    renewal = samples.status_changed(
        to_status="filed", from_status="suspended", action="reinstate", valid_until=samples.FILED_ON.replace(year=2032)
    )
    await replica.deliver(samples.envelope(renewal))
    await replica.deliver(suspend)  # the suspension delivered again: not applied a second time
    row = replica_of(replica)
    assert (row.status, row.valid_until) == ("filed", renewal.valid_until)
    assert replica.processed() == 3


async def test_a_step_before_filing_keeps_nothing(replica: ServiceBus) -> None:
    await replica.deliver(samples.envelope(samples.status_changed(None, to_status="accepted", action="accept")))
    assert replica.count(FiledOrganization) == 0
    assert replica.processed() == 1


async def test_a_status_change_before_its_filing_is_retried_until_the_filing_is_here(replica: ServiceBus) -> None:
    """Topics are not ordered among each other: the consumer raises (no commit), the event comes again."""
    suspend = samples.envelope(samples.status_changed())
    with pytest.raises(EventTooEarly):
        await replica.deliver(suspend)
    assert replica.processed() == 0
    assert replica.dead_letters == []
    await replica.deliver(samples.envelope(samples.organization_filed()))
    await replica.deliver(suspend)
    assert replica_of(replica).status == "suspended"


async def test_a_scope_change_replaces_the_scope_once(replica: ServiceBus) -> None:
    await replica.deliver(samples.envelope(samples.organization_filed()))
    change = samples.envelope(samples.scope_changed(levels=[5, 4, 3, 2]))
    await replica.deliver(change)
    assert replica_of(replica).scope[0]["levels"] == [5, 4, 3, 2]

    await replica.deliver(samples.envelope(samples.scope_changed(levels=[5])))
    await replica.deliver(change)  # delivered again: the later change stands
    assert replica_of(replica).scope[0]["levels"] == [5]
    assert replica.processed() == 3


async def test_a_details_change_replaces_the_name_and_the_sites_once(replica: ServiceBus) -> None:
    """An approved change of information or sites [L11; S附件3]: the new name, and the whole new list of sites
    (a batch at a site no longer filed is a new site under dual supervision)."""
    await replica.deliver(samples.envelope(samples.organization_filed()))
    change = samples.envelope(samples.details_changed())
    await replica.deliver(change)
    await replica.deliver(change)  # delivered again: applied once
    row = replica_of(replica)
    assert row.name == change.payload.name
    assert row.sites == [site.model_dump() for site in change.payload.sites]
    assert replica.processed() == 2


async def test_a_details_change_before_its_filing_is_retried(replica: ServiceBus) -> None:
    with pytest.raises(EventTooEarly):
        await replica.deliver(samples.envelope(samples.details_changed()))
    assert replica.processed() == 0


async def test_a_scope_change_before_its_filing_is_retried(replica: ServiceBus) -> None:
    with pytest.raises(EventTooEarly):
        await replica.deliver(samples.envelope(samples.scope_changed()))
    assert replica.processed() == 0


async def test_only_this_provinces_organizations_are_replicated(replica: ServiceBus) -> None:
    other = samples.envelope(samples.organization_filed("S000032000001"), province="32")
    await replica.deliver(other)  # on skillcert.32...: not subscribed
    assert replica.count(FiledOrganization) == 0
