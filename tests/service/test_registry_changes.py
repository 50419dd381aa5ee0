"""Changes of a filed organization's exam sites and information [L11; S附件3 注7], through the steps the policy's
`changes` give each kind, approved by the province, published as organization-details-changed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col

from infra.walkthrough import filed_organization
from shared.kernel.events import ORGANIZATION_DETAILS_CHANGED
from shared.platform.outbox import OutboxEvent
from tests.service.conftest import ServiceBus, running


@pytest.fixture
async def registry(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running(
        "registry",
        tmp_path=tmp_path,
        topic_root=topic_root,
        adjustable_clock=True,
        clock_file=tmp_path / "clock" / "33.days",
    ) as bus:
        yield bus


def details_events(registry: ServiceBus) -> list[dict[str, Any]]:
    rows = registry.rows(
        OutboxEvent, OutboxEvent.event_type == ORGANIZATION_DETAILS_CHANGED.type, order_by=col(OutboxEvent.seq)
    )
    return [json.loads(row.body)["payload"] for row in rows]


async def test_a_change_of_details_is_approved_by_the_province_alone_and_published_once(registry: ServiceBus) -> None:
    province = registry.token("province_official")
    async with registry.http() as client:
        code = (await client.post("/organizations", json=filed_organization("33", 71), headers=province)).json()[
            "filing_code"
        ]
        operator = registry.token("org_operator", code)
        at = f"/organizations/{code}/changes"
        empty = await client.post(at, json={"kind": "details", "details": {}}, headers=operator)
        assert empty.status_code == 422
        bad = await client.post(at, json={"kind": "details", "details": {"contact_phone": "call me"}}, headers=operator)
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "details.contact_phone"
        body = {"kind": "details", "details": {"contact_phone": "0571-86660000", "contact_name": "赵老师"}}
        change = (await client.post(at, json=body, headers=operator)).json()
        # Details need only the province's approval here: there is no acceptance to do [S附件3 注7].
        no_step = await client.post(f"{at}/{change['id']}/acceptance", headers=province)
        assert no_step.status_code == 409 and "has no acceptance" in no_step.json()["detail"]
        assert (await client.post(f"{at}/{change['id']}/approve", headers=operator)).status_code == 403
        approved = await client.post(f"{at}/{change['id']}/approve", headers=province)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        again = await client.post(f"{at}/{change['id']}/approve", headers=province)
        assert again.status_code == 409
        entry = (await client.get(f"/organizations/{code}")).json()
    assert (entry["contact_phone"], entry["contact_name"]) == ("0571-86660000", "赵老师")
    [event] = details_events(registry)
    assert (event["phone"], event["contact"], event["change_id"]) == ("0571-86660000", "赵老师", change["id"])


async def test_a_change_of_sites_is_accepted_and_assessed_by_the_selecting_city_first(registry: ServiceBus) -> None:
    """A city-selected organization: 杭州's officials accept and assess the new site, 宁波's may not, the province
    approves only after both steps, and the whole new list of sites goes out."""
    province = registry.token("province_official")
    hangzhou, ningbo = registry.token("city_official"), registry.token("city_official", region="330200")
    filed = filed_organization("33", 72, admin_level="city")
    new_sites = [
        *filed["sites"],
        {
            "address": "杭州市西湖区文三路99号",
            "city": "杭州市",
            "region": "330106",
            "ownership": "owned",
            "area_m2": 800,
        },
    ]
    async with registry.http() as client:
        created = await client.post("/organizations", json=filed, headers=province)
        assert created.status_code == 201, created.text
        code = created.json()["filing_code"]
        operator = registry.token("org_operator", code)
        at = f"/organizations/{code}/changes"
        outside = {**new_sites[1], "region": "320106"}
        refused = await client.post(at, json={"kind": "sites", "sites": [outside]}, headers=operator)
        assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "sites.0.region"
        change = (await client.post(at, json={"kind": "sites", "sites": new_sites}, headers=operator)).json()
        early = await client.post(f"{at}/{change['id']}/approve", headers=province)
        assert early.status_code == 409 and "acceptance" in early.json()["detail"]
        assert (await client.post(f"{at}/{change['id']}/acceptance", headers=ningbo)).status_code == 403
        assert (await client.post(f"{at}/{change['id']}/acceptance", headers=hangzhou)).status_code == 200
        assert (await client.post(f"{at}/{change['id']}/approve", headers=province)).status_code == 409
        assessment = {"passed": True, "reason": "新场地现场评估符合条件"}
        assert (
            await client.post(f"{at}/{change['id']}/assessment", json=assessment, headers=hangzhou)
        ).status_code == 200
        no_publicity = await client.post(
            f"{at}/{change['id']}/publicity", json={"published_on": "2099-01-01"}, headers=hangzhou
        )
        assert no_publicity.status_code == 409  # sites are not published in the shipped policy
        assert (await client.post(f"{at}/{change['id']}/approve", headers=province)).status_code == 200
    [event] = details_events(registry)
    assert [site["address"] for site in event["sites"]] == [site["address"] for site in new_sites]
    assert event["sites"][1]["region"] == "330106"
