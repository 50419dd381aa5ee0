"""Each service's HTTP contract: tokens and roles, clear 422s that store nothing, health, migrations."""

from __future__ import annotations

from typing import Any

import pytest

from infra.walkthrough import expect, filed_organization, organization_application
from services.registry.app import create as create_registry
from services.registry.settings import RegistrySettings
from shared.kernel.events import ORGANIZATION_FILED
from tests.harness import Environment, query_app, serve

pytestmark = pytest.mark.kafka


async def test_registry_write_needs_a_province_official(env: Environment, token: Any) -> None:
    settings = RegistrySettings(**env.common("33"), database_url=env.database_url("registry"))
    async with serve(create_registry(settings)) as registry:
        application = filed_organization("33")
        assert (await registry.post("/organizations", json=application)).status_code == 401
        operator = token("33", "org_operator", "S000033000001")
        forbidden = await registry.post("/organizations", json=application, headers=operator)
        assert forbidden.status_code == 403
        assert "org_operator" in forbidden.json()["detail"]
        # Another province's token is refused as the docs promise: 403 naming both provinces.
        other_province = await registry.post(
            "/organizations", json=application, headers=token("32", "province_official")
        )
        assert other_province.status_code == 403
        assert "province 32" in other_province.json()["detail"] and "33" in other_province.json()["detail"]
        assert expect(await registry.get("/organizations"), 200)["count"] == 0


async def test_bad_application_is_422_with_field_and_stores_nothing(env: Environment, token: Any) -> None:
    settings = RegistrySettings(**env.common("33"), database_url=env.database_url("registry"))
    async with serve(create_registry(settings)) as registry:
        official = token("33", "province_official")
        application = {**filed_organization("33"), "credit_code": "91330100MA00000010"}
        response = await registry.post("/organizations", json=application, headers=official)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "credit_code"
        occupations = organization_application("33")["occupations"]
        scope_bad = filed_organization("33", occupations=[{**occupations[0], "occupation_code": "6-18-01"}])
        response = await registry.post("/organizations", json=scope_bad, headers=official)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "occupations.0.occupation_code"
        misspelt = {**filed_organization("33"), "scope": occupations}
        response = await registry.post("/organizations", json=misspelt, headers=official)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "scope"
        assert expect(await registry.get("/organizations"), 200)["count"] == 0
        filed = expect(await registry.post("/organizations", json=filed_organization("33"), headers=official), 201)
        # The organization keeps the code it was filed under [L9].
        assert filed["filing_code"] == "S000033000001"


async def test_readiness_reports_database_and_broker(env: Environment) -> None:
    settings = RegistrySettings(**env.common("33"), database_url=env.database_url("registry"))
    async with serve(create_registry(settings)) as registry:
        ready = expect(await registry.get("/readyz"), 200)
        assert (ready["ready"], ready["checks"]) == (True, {"database": True, "kafka": True, "outbox relay": True})
        asyncapi = expect(await registry.get("/asyncapi.json"), 200)
        addresses = [channel["address"] for channel in asyncapi["channels"].values()]
        assert ORGANIZATION_FILED.topic("33", env.topic_root) in addresses


async def test_public_lookup_refuses_enumeration_and_names_legacy_numbers(env: Environment) -> None:
    async with serve(query_app(env)) as query:
        name_only = await query.post("/holder-lookups", json={"name": "张伟"})
        assert name_only.status_code == 422
        assert name_only.json()["detail"][0]["field"] == "id_number"
        malformed = await query.get("/certificates/S00003300000126400000")
        assert malformed.status_code == 422
        assert malformed.json()["detail"][0]["field"] == "number"
        legacy = await query.get("/certificates/1234567890123456")
        assert legacy.status_code == 404
        assert "legacy" in legacy.json()["detail"]
        ready = expect(await query.get("/readyz"), 200)
        assert ready["checks"] == {"kafka": True, "redis": True, "read model caught up with the log": True}
