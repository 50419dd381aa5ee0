"""Registry's consumer (services/registry/flows.py): supervision's sanctions on this province's organizations
(the drawn expert panels are tested in test_registry_panels.py, the credit record and the ratings in
test_registry_supervision.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import col

from infra.walkthrough import filed_organization
from services.registry import flows, service
from services.registry.models import FiledOrganizationCreate, Organization, OrganizationStatus, Transition
from shared.kernel.errors import NotFound
from shared.kernel.events import ORGANIZATION_STATUS_CHANGED, SANCTION_IMPOSED, SanctionImposed
from shared.platform.auth import Actor
from shared.platform.outbox import OutboxEvent
from tests.service import samples, test_registry_panels, test_registry_supervision
from tests.service.conftest import ServiceBus

TESTED = {SANCTION_IMPOSED.type, *test_registry_panels.TESTED, *test_registry_supervision.TESTED}
OFFICIAL = Actor("official-1", "province_official")


def test_every_registry_handler_is_tested_here() -> None:
    assert {contract.type for contract in flows.consumer.contracts} == TESTED


def file_organization(registry: ServiceBus) -> str:
    """An organization the province filed before the system ran, filed in one step; its filing code."""
    with registry.unit() as unit:
        application = FiledOrganizationCreate.model_validate(filed_organization(samples.PROVINCE, today=unit.today))
        organization = service.register_filed(unit=unit, application=application, actor=OFFICIAL)
        assert organization.filing_code is not None
        return organization.filing_code


def organization(registry: ServiceBus, code: str) -> Organization:
    [row] = registry.rows(Organization, Organization.filing_code == code)
    return row


def trail(registry: ServiceBus, code: str) -> list[tuple[str, OrganizationStatus | None, OrganizationStatus]]:
    """(action, from, to) of each transition after the filing."""
    rows = registry.rows(
        Transition, Transition.organization_id == organization(registry, code).id, order_by=col(Transition.id)
    )
    return [(t.action, t.from_status, t.to_status) for t in rows][2:]


def status_events(registry: ServiceBus) -> list[str]:
    rows = registry.rows(
        OutboxEvent, OutboxEvent.event_type == ORGANIZATION_STATUS_CHANGED.type, order_by=col(OutboxEvent.seq)
    )
    return [row.body for row in rows]


@pytest.mark.parametrize(
    ("measure", "status", "action"),
    [
        ("suspension", OrganizationStatus.SUSPENDED, "suspend"),
        ("revocation", OrganizationStatus.REVOKED, "revoke"),
        ("removal", OrganizationStatus.REVOKED, "remove"),  # 移出目录 [G四(一)]: its own action
    ],
)
async def test_a_suspension_or_revocation_changes_the_filing_once(
    registry: ServiceBus, measure: str, status: OrganizationStatus, action: str
) -> None:
    code = file_organization(registry)
    announced = len(status_events(registry))  # submit and register_filed
    event = samples.envelope(samples.sanction(code, measure), province=samples.PROVINCE)

    await registry.deliver(event)
    assert organization(registry, code).status is status
    assert trail(registry, code) == [(action, OrganizationStatus.FILED, status)]
    [reason] = [t.reason for t in registry.rows(Transition, Transition.action == action)]
    assert reason is not None and reason.startswith(f"{measure}: 考评员不足 (decided 2026-03-01)")
    events = status_events(registry)
    assert len(events) == announced + 1  # the replicas and the query service learn of it
    assert f'"to_status":"{status.value}"' in events[-1]
    assert f'"action":"{action}"' in events[-1]
    assert '"actor":"supervision"' in events[-1]

    await registry.deliver(event)  # delivered again: applied once
    assert trail(registry, code) == [(action, OrganizationStatus.FILED, status)]
    assert len(status_events(registry)) == announced + 1
    assert registry.processed() == 1


async def test_a_rectification_is_on_the_trail_only(registry: ServiceBus) -> None:
    code = file_organization(registry)
    announced = len(status_events(registry))
    event = samples.envelope(samples.sanction(code, "rectification"))

    await registry.deliver(event)
    await registry.deliver(event)
    assert organization(registry, code).status is OrganizationStatus.FILED
    assert trail(registry, code) == [("rectification", OrganizationStatus.FILED, OrganizationStatus.FILED)]
    [reason] = [t.reason for t in registry.rows(Transition, Transition.action == "rectification")]
    assert reason is not None and reason.endswith("rectify by 2026-04-01")
    assert len(status_events(registry)) == announced  # no state changed: nothing to announce


async def test_a_second_suspension_of_a_suspended_organization_changes_nothing(registry: ServiceBus) -> None:
    code = file_organization(registry)
    await registry.deliver(samples.envelope(samples.sanction(code, "suspension")))
    await registry.deliver(samples.envelope(samples.sanction(code, "suspension")))  # another decision, same measure
    assert trail(registry, code) == [("suspend", OrganizationStatus.FILED, OrganizationStatus.SUSPENDED)]
    assert registry.processed() == 2


async def test_a_measure_on_a_revoked_organization_is_recorded_not_applied(registry: ServiceBus) -> None:
    code = file_organization(registry)
    await registry.deliver(samples.envelope(samples.sanction(code, "revocation")))
    await registry.deliver(samples.envelope(samples.sanction(code, "suspension")))
    assert organization(registry, code).status is OrganizationStatus.REVOKED
    assert trail(registry, code) == [
        ("revoke", OrganizationStatus.FILED, OrganizationStatus.REVOKED),
        ("suspension", OrganizationStatus.REVOKED, OrganizationStatus.REVOKED),
    ]


async def test_a_sanction_on_an_unknown_organization_fails_and_is_not_recorded(registry: ServiceBus) -> None:
    """Not a message it cannot read: the handler raises, the offset is not committed, it is delivered again."""
    with pytest.raises(NotFound):
        await registry.deliver(samples.envelope(samples.sanction("S000033999999")))
    assert registry.processed() == 0
    assert registry.dead_letters == []
    assert registry.count(Transition, col(Transition.action) == "suspend") == 0


def decided(code: str, measure: str, **more: Any) -> SanctionImposed:
    """A version 2 measure: with its case, article and the official who decided it."""
    return SanctionImposed.model_validate(
        {
            **samples.sanction(code, measure).model_dump(),
            "case_id": "33-C000007",
            "article": "G四(一)",
            "decided_by": "official-9",
            **more,
        }
    )


async def test_a_removal_takes_the_organization_out_of_the_catalogue_citing_case_and_article(
    registry: ServiceBus,
) -> None:
    code = file_organization(registry)
    await registry.deliver(samples.envelope(decided(code, "removal")))
    assert organization(registry, code).status is OrganizationStatus.REVOKED
    [removal] = registry.rows(Transition, Transition.action == "remove")
    assert removal.reason == "removal: 考评员不足 (decided 2026-03-01, case 33-C000007, by official-9) [G四(一)]"
    assert '"action":"remove"' in status_events(registry)[-1]
    async with registry.http() as client:  # the public catalogue
        assert (await client.get(f"/organizations/{code}")).status_code == 404
        assert code not in (await client.get("/organizations")).text


async def test_a_lifted_suspension_reinstates_and_is_on_the_trail_only_when_not_suspended(
    registry: ServiceBus,
) -> None:
    code = file_organization(registry)
    announced = len(status_events(registry))
    await registry.deliver(samples.envelope(decided(code, "suspension_lifted")))  # not suspended: nothing to lift
    assert organization(registry, code).status is OrganizationStatus.FILED
    assert len(status_events(registry)) == announced
    await registry.deliver(samples.envelope(decided(code, "suspension")))
    await registry.deliver(samples.envelope(decided(code, "suspension_lifted", decided_on="2026-05-01")))
    assert organization(registry, code).status is OrganizationStatus.FILED
    assert trail(registry, code) == [
        ("suspension_lifted", OrganizationStatus.FILED, OrganizationStatus.FILED),
        ("suspend", OrganizationStatus.FILED, OrganizationStatus.SUSPENDED),
        ("reinstate", OrganizationStatus.SUSPENDED, OrganizationStatus.FILED),
    ]
    reasons = [t.reason or "" for t in registry.rows(Transition, col(Transition.action).in_(["suspension_lifted"]))]
    assert reasons == [
        "suspension_lifted: 考评员不足 (decided 2026-03-01, case 33-C000007, by official-9) [G四(一)]; "
        "not suspended: nothing to lift"
    ]
    assert '"action":"reinstate"' in status_events(registry)[-1]
    assert len(status_events(registry)) == announced + 2
    assert registry.processed() == 3


async def test_a_rectification_names_its_case_article_and_deadline(registry: ServiceBus) -> None:
    code = file_organization(registry)
    await registry.deliver(samples.envelope(decided(code, "rectification", article="L28")))
    [row] = registry.rows(Transition, Transition.action == "rectification")
    assert row.reason == (
        "rectification: 考评员不足 (decided 2026-03-01, case 33-C000007, by official-9) [L28], rectify by 2026-04-01"
    )


@pytest.mark.parametrize("measure", ["suspension", "revocation", "removal"])
async def test_a_measure_on_an_expired_organization_is_recorded_not_applied(registry: ServiceBus, measure: str) -> None:
    """Out of the catalogue already: the measure is on the trail, and the event is not delivered again for ever."""
    code = file_organization(registry)
    with registry.unit() as unit:
        filed = service.get_filed(unit=unit, filing_code=code)
        filed.valid_until = date(2020, 1, 1)
        unit.session.add(filed)
        assert service.expire_due(unit=unit) == [code]
    await registry.deliver(samples.envelope(decided(code, measure)))
    assert organization(registry, code).status is OrganizationStatus.EXPIRED
    assert trail(registry, code)[-1] == (measure, OrganizationStatus.EXPIRED, OrganizationStatus.EXPIRED)
    assert registry.processed() == 1
