"""A recognition batch over HTTP and the real broker, with a prior certificate from another province checked
through the shared query service."""

from __future__ import annotations

from typing import Any

import pytest

from infra.walkthrough import (
    batch_plan,
    eventually,
    expect,
    filed_organization,
    run_batch,
    service_today,
    walk_province,
)
from tests.harness import Environment, province_services, query_app, serve

pytestmark = pytest.mark.kafka


async def test_zhejiang_level_3_on_a_jiangsu_level_4_certificate(env: Environment, token: Any) -> None:
    async with (
        serve(query_app(env)) as query,
        province_services(env, "32") as jiangsu,
        province_services(env, "33", query=query) as zhejiang,
    ):
        # A Jiangsu organization certifies two people at level 4 of 车工.
        jiangsu_walk = await walk_province(jiangsu, token)
        holder, stranger = jiangsu_walk.candidates
        prior = jiangsu_walk.certificates[0]["number"]

        async def queryable() -> bool:
            return (await query.get(f"/certificates/{prior}")).status_code == 200

        await eventually(queryable, what="the Jiangsu certificate reaches the query service")

        # A Zhejiang organization plans a level 3 batch and uploads its candidates as CSV.
        official = token("33", "province_official")
        code = expect(
            await zhejiang.registry.post(
                "/organizations",
                json=filed_organization("33", 3, today=await service_today(zhejiang.registry)),
                headers=official,
            ),
            201,
        )["filing_code"]
        operator = token("33", "org_operator", code)
        plan = batch_plan(code, "33", candidates=[], level=3, today=await service_today(zhejiang.recognition))

        async def drafted() -> dict[str, Any] | None:
            response = await zhejiang.recognition.post("/batches", json=plan, headers=operator)
            return response.json() if response.status_code == 201 else None

        batch = await eventually(drafted, what="Zhejiang recognition learns of the filing")
        header = "name,id_type,id_number,years_of_work,prior_certificate_number"
        claims = [
            f"{holder['name']},居民身份证,{holder['id_number']},5,{prior}",
            # Someone else's certificate: the query service knows it, but not as theirs.
            f"{stranger['name']},居民身份证,{stranger['id_number']},5,{prior}",
        ]
        upload = f"/batches/{batch['id']}/candidates"
        bad = "\n".join([header, claims[0], "李四,居民身份证,330106199001011234,5,"])
        refused = await zhejiang.recognition.post(
            upload, content=bad.encode(), headers={**operator, "content-type": "text/csv"}
        )
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["detail"]] == ["line 3.id_number"]
        assert (
            expect(await zhejiang.recognition.get(f"/batches/{batch['id']}", headers=operator), 200)["candidate_count"]
            == 0
        )  # nothing half-stored
        report = expect(
            await zhejiang.recognition.post(
                upload, content="\n".join([header, *claims]).encode(), headers={**operator, "content-type": "text/csv"}
            ),
            200,
        )
        assert report == {"rows": 2, "stored": 2, "candidate_count": 2}

        submitted = await zhejiang.recognition.post(f"/batches/{batch['id']}/submit", headers=operator)
        assert submitted.status_code == 422
        assert submitted.json()["detail"] == [
            {
                "field": "candidates.1.prior_certificate_number",
                "reason": f"{stranger['name']}: certificate {prior} is not held by this candidate (name and ID number)",
            }
        ]

        # Without the stranger the plan goes through, runs, and Zhejiang certifies the Jiangsu holder at level 3.
        plan = batch_plan(
            code,
            "33",
            level=3,
            today=await service_today(zhejiang.recognition),
            candidates=[
                {
                    "name": holder["name"],
                    "id_number": holder["id_number"],
                    "years_of_work": 5,
                    "prior_certificate_number": prior,
                }
            ],
        )
        batch = expect(await zhejiang.recognition.post("/batches", json=plan, headers=operator), 201)
        approved = await run_batch(zhejiang.recognition, batch, token, "33")
        assert approved["status"] == "approved"
        assert [step["action"] for step in approved["trail"]] == [
            "create",
            "submit",
            "approve_plan",
            "record_results",
            "publish_results",
            "report",
            "pass_review",
            "approve_results",
        ]

        async def both_certificates() -> list[dict[str, Any]] | None:
            found = expect(
                await query.post("/holder-lookups", json={"name": holder["name"], "id_number": holder["id_number"]}),
                200,
            )
            return found["data"] if found["count"] == 2 else None

        held = await eventually(both_certificates, what="the Zhejiang level 3 certificate is queryable")
        assert sorted((c["province"], c["level"]) for c in held) == [("32", 4), ("33", 3)]
