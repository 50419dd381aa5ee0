"""The shared public query over the real broker: every province's certificates, organizations and batch plans,
in both deployments (one shared cluster; a province on its own cluster mirrored by MirrorMaker 2), with each
certificate verified, and a new read model rebuilt from the log."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from infra.servers import KafkaServer, MirrorMaker
from infra.walkthrough import eventually, expect, walk_province
from shared.kernel.events import CERTIFICATE_ISSUED
from tests.harness import Environment, province_services, query_app, serve

pytestmark = pytest.mark.kafka


def checks(answer: dict[str, Any]) -> dict[str, bool | None]:
    return {check["name"]: check["passed"] for check in answer["checks"]}


async def verified_view(query: Any, number: str) -> dict[str, Any]:
    """The public view once everything about it arrived (signing key and filing come on other topics)."""

    async def fully_verified() -> dict[str, Any] | None:
        response = await query.get(f"/certificates/{number}")
        if response.status_code == 404:
            return None
        view = expect(response, 200)
        return view if view["verification"]["verified"] is not None else None

    return await eventually(fully_verified, what=f"{number} verified in the public lookup")


async def test_lookups_across_provinces_on_one_cluster_and_a_rebuilt_read_model(env: Environment, token: Any) -> None:
    async with (
        serve(query_app(env)) as query,
        province_services(env, "33", query) as zhejiang,
        province_services(env, "32", query) as jiangsu,
    ):
        walks = {"33": await walk_province(zhejiang, token), "32": await walk_province(jiangsu, token, number=2)}

        for province, walk in walks.items():
            number = walk.certificates[0]["number"]
            view = await verified_view(query, number)
            # As typed on a phone: lower case, spaces around it.
            assert expect(await query.get(f"/certificates/ {number.lower()} "), 200) == view
            holder = walk.candidates[0]
            assert view["province"] == province and view["organization_code"] == walk.organization_code
            assert view["holder_name"] == holder["name"] and view["work_type"] == "--"
            assert view["id_number_masked"] != holder["id_number"] and view["id_number_masked"].endswith(
                holder["id_number"][-4:]
            )
            assert (view["status"], view["level_title"]) == ("valid", "四级/中级工")
            assert view["verification"]["verified"] is True
            assert checks(view["verification"]) == {
                "integrity": True,
                "signature": True,
                "organization": True,
                "status": True,
            }
            mine = expect(
                await query.post("/holder-lookups", json={"name": holder["name"], "id_number": holder["id_number"]}),
                200,
            )
            assert [c["certificate_number"] for c in mine["data"]] == [number]
            # The same name with another ID number is someone else.
            other = expect(
                await query.post("/holder-lookups", json={"name": holder["name"], "id_number": "110101199001011237"}),
                200,
            )
            assert other["count"] == 0

        # The catalogue and the year's batch plans of both provinces, searchable.
        async def catalogued() -> dict[str, Any] | None:
            page = expect(await query.get("/organizations", params={"q": "机械行业协会"}), 200)
            return page if page["count"] == 2 else None

        catalogue = await eventually(catalogued, what="both organizations in the catalogue")
        assert {o["filing_code"] for o in catalogue["data"]} == {w.organization_code for w in walks.values()}
        assert all(o["status"] == "filed" and o["scope"] for o in catalogue["data"])
        only_jiangsu = expect(await query.get("/organizations", params={"province": "32"}), 200)
        assert [o["filing_code"] for o in only_jiangsu["data"]] == [walks["32"].organization_code]
        by_occupation = expect(await query.get("/organizations", params={"occupation": "车工"}), 200)
        assert by_occupation["count"] == 2
        assert expect(await query.get("/organizations", params={"occupation": "9-99-99-99"}), 200)["count"] == 0
        assert (await query.get("/organizations", params={"province": "Zhejiang"})).status_code == 422

        plans = expect(await query.get("/batch-plans", params={"year": walk_year(walks)}), 200)
        assert {p["batch_id"] for p in plans["data"]} == {w.batch_id for w in walks.values()}
        assert {p["province"] for p in plans["data"]} == {"32", "33"}
        zhejiang_plans = expect(
            await query.get("/batch-plans", params={"year": walk_year(walks), "q": walks["33"].organization_code}), 200
        )
        assert [p["batch_id"] for p in zhejiang_plans["data"]] == [walks["33"].batch_id]

        # A holder's electronic certificate verifies; a changed one does not; a revoked one does not.
        number = walks["32"].certificates[0]["number"]
        operator = token("32", "org_operator", walks["32"].organization_code)
        document = expect(await jiangsu.certificates.get(f"/certificates/{number}/credential", headers=operator), 200)
        answer = expect(await query.post("/verifications", json=document), 200)
        assert answer["verified"] is True and checks(answer)["status"] is True
        forged = copy.deepcopy(document)
        forged["credentialSubject"]["level"] = 1
        answer = expect(await query.post("/verifications", json=forged), 200)
        assert answer["verified"] is False and checks(answer)["integrity"] is False
        assert (await query.post("/verifications", content=b"{not json")).status_code == 422
        assert (await query.post("/verifications", json={"id": "x"})).status_code == 422
        assert (await query.post("/verifications", content=b" " * 300_000)).status_code == 413

        expect(
            await jiangsu.certificates.post(
                f"/certificates/{number}/revocation",
                headers=token("32", "province_official"),
                json={"reason": "fraud", "detail": "冒名顶替参加考试"},
            ),
            200,
        )

        async def revoked() -> dict[str, Any] | None:
            view = expect(await query.get(f"/certificates/{number}"), 200)
            return view if view["status"] == "revoked" else None

        view = await eventually(revoked, what="the revocation in the public lookup")
        assert view["verification"]["verified"] is False and checks(view["verification"])["status"] is False
        answer = expect(await query.post("/verifications", json=document), 200)
        assert answer["verified"] is False and checks(answer)["status"] is False

        # The certificate topics are compacted: the log keeps every certificate's latest event for ever.
        assert await topic_config(env.kafka_bootstrap, CERTIFICATE_ISSUED.topic("32", env.topic_root)) == "compact"

    # A new replica with a new, empty Redis (here: a new key prefix) rebuilds everything from the log, deployed as
    # make up and docker-compose run it: workers that only read (no consumer group) and one projector that writes.
    new_redis = f"{env.topic_root}-new:"
    reading = query_app(env, role="serve", redis_prefix=new_redis)
    assert reading.state.runtime.broker.subscribers == []
    async with serve(reading) as fresh:
        assert (await fresh.get("/readyz")).status_code == 503
        assert (await fresh.get(f"/certificates/{number}")).status_code == 503
        async with serve(query_app(env, role="project", redis_prefix=new_redis)) as projector:
            assert (await projector.get(f"/certificates/{number}")).status_code == 404  # it answers no lookups

            async def ready() -> dict[str, Any] | None:
                response = await fresh.get("/readyz")
                return response.json() if response.status_code == 200 else None

            await eventually(ready, what="the new read model catches up with the log")
            assert (await projector.get("/readyz")).status_code == 200
            model = expect(await fresh.get("/read-model"), 200)
            assert float(model["rebuilt_in_seconds"]) > 0 and int(model["rebuilt_events"]) > 0
            for walk in walks.values():
                for certificate in walk.certificates:
                    assert (await fresh.get(f"/certificates/{certificate['number']}")).status_code == 200
            assert expect(await fresh.get(f"/certificates/{number}"), 200)["status"] == "revoked"
            assert expect(await fresh.get("/organizations", params={"q": "机械行业协会"}), 200)["count"] == 2


def walk_year(walks: dict[str, Any]) -> int:
    """The batches' exam year (the plans' year), from the batch ids' dates is not safe: ask the certificates."""
    return int(next(iter(walks.values())).certificates[0]["issued_on"][:4])


async def topic_config(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return next(str(entry[1]) for entry in entries if entry[0] == "cleanup.policy")
    finally:
        await admin.close()


@pytest.fixture
def shanghai_cluster(servers_dir: Path, topic_root: str) -> Iterator[str]:
    """Shanghai's own Kafka cluster (a second broker on loopback)."""
    server = KafkaServer(servers_dir / f"kafka-shanghai-{topic_root}")
    server.start()
    yield server.bootstrap
    server.stop()


async def test_a_province_on_its_own_cluster_mirrored_into_the_shared_one(
    env: Environment,
    token: Any,
    shanghai_cluster: str,
    servers_dir: Path,
) -> None:
    # Shanghai's services run on Shanghai's cluster; MirrorMaker 2 copies its topics into the shared cluster as
    # `sh.<topic>`. Zhejiang publishes on the shared cluster directly. One query service reads both namings.
    shanghai = dataclasses.replace(env, kafka_bootstrap=shanghai_cluster)
    mirror = MirrorMaker(
        servers_dir / f"mm2-{env.topic_root}",
        "sh",
        shanghai_cluster,
        "shared",
        env.kafka_bootstrap,
        topics=rf"{re.escape(env.topic_root)}\.31\..*",
    )
    mirror.start()
    try:
        async with (
            serve(query_app(env)) as query,
            province_services(shanghai, "31", query) as shanghai_services,
            province_services(env, "33", query) as zhejiang,
        ):
            walks = [await walk_province(shanghai_services, token), await walk_province(zhejiang, token, number=3)]
            for walk in walks:
                for certificate in walk.certificates:
                    view = await verified_view(query, certificate["number"])
                    assert view["verification"]["verified"] is True, view["verification"]
            assert {
                view["province"] for view in [await verified_view(query, w.certificates[0]["number"]) for w in walks]
            } == {"31", "33"}
            admin = AIOKafkaAdminClient(bootstrap_servers=env.kafka_bootstrap)
            await admin.start()
            try:
                topics = set(await admin.list_topics())
            finally:
                await admin.close()
            assert f"sh.{CERTIFICATE_ISSUED.topic('31', env.topic_root)}" in topics
            assert CERTIFICATE_ISSUED.topic("31", env.topic_root) not in topics
            assert CERTIFICATE_ISSUED.topic("33", env.topic_root) in topics
    finally:
        mirror.stop()
