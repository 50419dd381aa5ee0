"""The spine over the real broker: two provinces' services and the shared query, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from infra.walkthrough import eventually, expect, walk_province
from shared.kernel.numbering import CertificateNumber
from tests.harness import Environment, delete_topics, province_services, query_app, serve

pytestmark = pytest.mark.kafka


@pytest.fixture
async def env(kafka_bootstrap: str, keys_dir, topic_root: str, database_url_factory, redis_url: str):  # type: ignore[no-untyped-def]
    yield Environment(kafka_bootstrap, keys_dir, topic_root, database_url_factory, redis_url)
    await delete_topics(kafka_bootstrap, topic_root)


async def test_certificate_from_filing_to_lookup_in_two_provinces(env: Environment, token: Any) -> None:
    async with (
        province_services(env, "33") as zhejiang,
        province_services(env, "32") as jiangsu,
        serve(query_app(env)) as query,
    ):
        walks = {p.province: await walk_province(p, token) for p in (zhejiang, jiangsu)}

        for province, walk in walks.items():
            assert walk.organization_code.startswith(f"S0000{province}")
            for certificate in walk.certificates:
                number = CertificateNumber.parse(certificate["number"])
                assert str(number.organization) == walk.organization_code
                assert number.level == 4
                assert certificate["id_number_masked"].count("*") == 8

            # The shared query service finds each province's certificates, by number and by name + ID.
            # Serials follow the order of the plan, so the first candidate holds serial 000001.
            first = walk.certificates[0]
            assert first["number"].endswith("000001")
            candidate = walk.candidates[0]
            assert first["holder_name"] == candidate["name"]

            async def found(number: str = first["number"]) -> dict[str, Any] | None:
                response = await query.get(f"/certificates/{number}")
                return response.json() if response.status_code == 200 else None

            view = await eventually(found, what=f"query service has {first['number']}")
            assert view["province"] == province
            assert view["holder_name"] == candidate["name"]
            params = {"name": candidate["name"], "id_number": candidate["id_number"]}
            by_holder = expect(await query.post("/holder-lookups", json=params), 200)
            assert [c["certificate_number"] for c in by_holder["data"]] == [first["number"]]
            assert candidate["id_number"] not in str(by_holder)

        # Supervision learned of the organizations it may inspect from the registry's events.
        inspector = token("33", "inspector")

        async def inspectable() -> list[str] | None:
            data = expect(await zhejiang.supervision.get("/inspectable-organizations", headers=inspector), 200)
            codes = [o["filing_code"] for o in data["data"]]
            return codes or None

        assert await eventually(inspectable, what="supervision replica") == [walks["33"].organization_code]

    # ID numbers never reach Redis in clear: not in any key, nor in any value of any type.
    redis = Redis.from_url(env.redis_url)
    try:
        stored = []
        async for key in redis.scan_iter(match=f"{env.topic_root}:*", count=1000):
            kind = await redis.type(key)
            if kind == b"string":
                value: object = await redis.get(key)
            elif kind == b"hash":
                value = await redis.hgetall(key)
            elif kind == b"set":
                value = await redis.smembers(key)
            elif kind == b"zset":
                value = await redis.zrange(key, 0, -1)
            else:
                assert kind == b"list", f"{key!r} is a {kind!r}: read it here too"
                value = await redis.lrange(key, 0, -1)
            stored.append(repr(key) + repr(value))
        assert len(stored) > 10  # certificates, holders, organizations, keys of both provinces
        for walk in walks.values():
            id_number = walk.candidates[0]["id_number"]
            assert not [entry for entry in stored if id_number in entry]
    finally:
        await redis.aclose()
