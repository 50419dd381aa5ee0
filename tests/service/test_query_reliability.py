"""The public query under the reliability review's findings (docs/query.md): X-Forwarded-For believed from the
configured proxies only, ID numbers kept out of URLs, access logs and traces, lookups that wait (503) while the read
model is rebuilt, and uploads that are not credentials refused with 422, never 500."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from services.query import app as query_app
from services.query.rebuild import RebuildWatch
from services.query.settings import QuerySettings
from services.query.store import CertificateStore
from services.query.workers import exit_with_master
from services.recognition.prior_certificates import Claim, PriorCertificates
from tests.service import samples

PROXY = "10.0.0.5"
NOBODY = "S000033000001264999999"  # a valid number nobody holds


@contextlib.asynccontextmanager
async def query_service(
    redis_url: str, topic_root: str, *, provider: TracerProvider | None = None, **overrides: Any
) -> AsyncIterator[FastAPI]:
    """The query app as its factory builds it (no lifespan: no broker), on the test Redis under its own prefix."""
    settings = QuerySettings(
        province=samples.PROVINCE,
        topic_root=topic_root,
        redis_url=redis_url,
        id_hash_key="reliability-id-hash-key",
        redis_prefix=f"{topic_root}:",
        **overrides,
    )
    app = query_app.create(settings, provider or TracerProvider(), read_model_id="reliability")
    try:
        yield app
    finally:
        for hook in app.state.runtime.on_stop:
            result = hook()
            if hasattr(result, "__await__"):
                await result
        redis = Redis.from_url(redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{topic_root}:*", count=1000)]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


def client_of(app: FastAPI, address: str = "203.0.113.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://q")


def guess(index: int) -> dict[str, str]:
    return {"name": "张伟", "id_number": f"33010619900101{index:04d}"}


# --- D3: X-Forwarded-For ----------------------------------------------------------------------------------------


async def test_x_forwarded_for_from_an_untrusted_address_does_not_get_past_the_miss_limit(
    redis_url: str, topic_root: str
) -> None:
    async with query_service(redis_url, topic_root, trusted_proxies=[PROXY]) as app, client_of(app) as guesser:
        answers = [
            await guesser.post("/holder-lookups", json=guess(i), headers={"X-Forwarded-For": f"198.51.100.{i}"})
            for i in range(12)
        ]
    assert [a.status_code for a in answers[:10]] == [200] * 10
    assert answers[10].status_code == 429 and int(answers[10].headers["Retry-After"]) >= 1


async def test_nothing_is_trusted_by_default(redis_url: str, topic_root: str) -> None:
    """Not even loopback: under `make up` any local process could otherwise name its own address."""
    async with query_service(redis_url, topic_root) as app, client_of(app, "127.0.0.1") as local:
        answers = [
            await local.post("/holder-lookups", json=guess(i), headers={"X-Forwarded-For": f"198.51.100.{i}"})
            for i in range(11)
        ]
    assert [a.status_code for a in answers] == [200] * 10 + [429]


async def test_x_forwarded_for_from_a_configured_proxy_is_honoured(redis_url: str, topic_root: str) -> None:
    async with (
        query_service(redis_url, topic_root, trusted_proxies=[PROXY, "10.1.0.0/16"]) as app,
        client_of(app, PROXY) as proxy,
        client_of(app, "10.1.2.3") as inner_proxy,
    ):
        # Each client behind the proxy has its own budget: twelve clients missing once each are all answered.
        for i in range(12):
            answer = await proxy.post("/holder-lookups", json=guess(i), headers={"X-Forwarded-For": f"198.51.100.{i}"})
            assert answer.status_code == 200, i
        # One client behind it is counted as itself, whatever it writes into the header before the proxy's entry,
        # and also when a second trusted proxy (a network here) stands between.
        spoofed = [
            await proxy.post(
                "/holder-lookups", json=guess(100 + i), headers={"X-Forwarded-For": f"192.0.2.{i}, 203.0.113.99"}
            )
            for i in range(10)
        ]
        assert [a.status_code for a in spoofed] == [200] * 10
        through_two = await inner_proxy.post(
            "/holder-lookups", json=guess(200), headers={"X-Forwarded-For": f"192.0.2.77, 203.0.113.99, {PROXY}"}
        )
        assert through_two.status_code == 429
        # Another client behind the proxy is not affected by that one's misses.
        assert (await proxy.get("/organizations", headers={"X-Forwarded-For": "198.51.100.200"})).status_code == 200


def test_a_star_is_no_trusted_proxy() -> None:
    with pytest.raises(ValueError, match="every client"):
        QuerySettings(id_hash_key="k", trusted_proxies=["*"])
    with pytest.raises(ValueError, match="not an IP address"):
        QuerySettings(id_hash_key="k", trusted_proxies=["proxy.example"])


# --- D4: ID numbers out of URLs, access logs and traces --------------------------------------------------------


async def test_the_holder_lookup_takes_the_id_number_in_the_body(redis_url: str, topic_root: str) -> None:
    issued = samples.certificate_issued(samples.certificate_number())
    async with query_service(redis_url, topic_root) as app, client_of(app) as client:
        store: CertificateStore = app.state.certificate_store
        await store.apply_issued(issued)
        holder = {"name": issued.holder_name, "id_number": issued.id_number}
        found = await client.post("/holder-lookups", json=holder)
        assert found.status_code == 200 and found.json()["count"] == 1
        assert found.json()["data"][0]["certificate_number"] == issued.certificate_number
        assert issued.id_number not in found.text
        name_only = await client.post("/holder-lookups", json={"name": issued.holder_name})
        assert name_only.status_code == 422 and name_only.json()["detail"][0]["field"] == "id_number"
        # The old GET with the ID number in its query string says where the lookup went, and finds nothing.
        moved = await client.get("/certificates", params=holder)
        assert moved.status_code == 410 and "POST /holder-lookups" in moved.json()["detail"]
        document = (await client.get("/openapi.json")).json()
        # Recognition's prior-certificate check asks the same way.
        checked = await PriorCertificates(client).check(
            [Claim("c1", issued.holder_name, issued.id_number, issued.certificate_number)]
        )
    assert checked["c1"].held_by_candidate and checked["c1"].found
    assert "get" not in document["paths"].get("/certificates", {})
    operation = document["paths"]["/holder-lookups"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/HolderLookup")
    assert {"name", "id_number"} <= set(document["components"]["schemas"]["HolderLookup"]["properties"])
    assert {"422", "429", "503"} <= set(operation["responses"])
    assert not any(p.get("name") == "id_number" for item in document["paths"].values() for o in item.values()
                   for p in o.get("parameters", []))  # fmt: skip


async def test_the_id_number_is_in_no_span_and_no_log_record(
    redis_url: str, topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    issued = samples.certificate_issued(samples.certificate_number())
    holder = {"name": issued.holder_name, "id_number": issued.id_number}
    caplog.set_level(logging.DEBUG)
    async with query_service(redis_url, topic_root, provider=provider) as app, client_of(app) as client:
        await app.state.certificate_store.apply_issued(issued)
        assert (await client.post("/holder-lookups", json=holder)).json()["count"] == 1
        # A client still sending it in the URL: the server span keeps the path only.
        await client.get("/certificates", params=holder)
        await client.get(f"/certificates/{NOBODY}", params={"id_number": issued.id_number})
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind.name == "SERVER"]
    assert {s.name for s in server} >= {"POST /holder-lookups", "GET /certificates"}
    assert any(str(value).endswith("/certificates") for s in server for value in (s.attributes or {}).values())
    leaks = [
        (span.name, name, value)
        for span in spans
        for name, value in (span.attributes or {}).items()
        if issued.id_number in str(value)
    ]
    assert leaks == []
    assert not [event for span in spans for event in span.events if issued.id_number in str(event.attributes)]
    # Every record but the test's own HTTP client's (whose request lines name the URLs it was told to ask).
    service_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = [r for r in service_records if issued.id_number in f"{r.getMessage()} {r.args!r} {r.__dict__!r}"]
    assert logged == []


# --- D10: while the read model is rebuilt ------------------------------------------------------------------------


async def test_while_the_read_model_is_rebuilt_lookups_answer_503_and_count_nothing(
    redis_url: str, topic_root: str
) -> None:
    limits: dict[str, Any] = {"lookup_limits": "12/minute", "miss_limits": "3/minute"}
    issued = samples.certificate_issued(samples.certificate_number())
    async with query_service(redis_url, topic_root, **limits) as app, client_of(app) as client:
        await app.state.certificate_store.apply_issued(issued)
        rebuilding = RebuildWatch("127.0.0.1:9", app.state.certificate_store, {}, (), topic_root)
        app.state.read_model.watches.append(rebuilding)  # as at start-up: a watch on the log, not caught up yet
        ready = (await client.get("/readyz")).json()
        assert ready["checks"]["read model caught up with the log"] is False and ready["ready"] is False
        waits = [
            await client.get(f"/certificates/{NOBODY}"),
            await client.get(f"/certificates/{issued.certificate_number}"),
            await client.post("/holder-lookups", json=guess(1)),
            await client.get("/organizations"),
            await client.get("/batch-plans"),
            await client.get("/inspections"),
            await client.get("/inspection-plans"),
            await client.get("/inspection-plans/33/33-P000001"),
            await client.post("/verifications", json={"credentialSubject": {}}),
        ] * 2
        for answer in waits:
            assert answer.status_code == 503, answer.request.url
            assert int(answer.headers["Retry-After"]) >= 1 and "请" in answer.json()["detail"]
        rebuilding.caught_up = True
        assert (await client.get("/readyz")).json()["checks"]["read model caught up with the log"] is True
        # Nothing was counted: the whole lookup budget and every miss are still there.
        found = await client.get(f"/certificates/{issued.certificate_number}")
        assert found.status_code == 200
        misses = [(await client.get(f"/certificates/{NOBODY}")).status_code for _ in range(4)]
        assert misses == [404, 404, 404, 429]
        document = (await client.get("/openapi.json")).json()
    for path, method in [("/certificates/{number}", "get"), ("/holder-lookups", "post"), ("/organizations", "get")]:
        assert "503" in document["paths"][path][method]["responses"], path


# --- D6, D7: POST /verifications ---------------------------------------------------------------------------------

NOT_CREDENTIALS = [
    pytest.param("[" * 2000 + "]" * 2000, id="arrays-2000-deep"),
    pytest.param('{"credentialSubject":' * 2000 + "1" + "}" * 2000, id="objects-2000-deep"),
    pytest.param('{"credentialSubject": {"a": ' + "[" * 40 + "1" + "]" * 40 + "}}", id="a-claim-nested-deep"),
    pytest.param('{"credentialSubject":"x","proof":"y"}', id="parts-of-the-wrong-type"),
    pytest.param('{"credentialSubject":{},"proof":{}}', id="no-claims"),
    pytest.param("[1, 2]", id="not-an-object"),
    pytest.param("{not json", id="not-json"),
]


@pytest.mark.parametrize("body", NOT_CREDENTIALS)
async def test_a_body_that_is_not_a_credential_is_a_422_in_the_documented_shape(
    body: str, redis_url: str, topic_root: str
) -> None:
    async with query_service(redis_url, topic_root) as app:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
            answer = await client.post(
                "/verifications", content=body.encode(), headers={"Content-Type": "application/json"}
            )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail and all(set(error) == {"field", "reason"} for error in detail), detail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: c["credentialSubject"].update(level="4"), "credentialSubject.level"),
        (lambda c: c["credentialSubject"].pop("organizationCode"), "credentialSubject.organizationCode"),
        (lambda c: c["proof"].update(targetHash=None), "proof.targetHash"),
        (lambda c: c["proof"].update(obfuscated=[1]), "proof.obfuscated.0"),
        (lambda c: c["proof"].update(merkleProof="ab"), "proof.merkleProof"),
        (lambda c: c.update(issuer="urn:skillcert:province:33"), "issuer"),
        (lambda c: c.update(credentialStatus=[]), "credentialStatus"),
        (lambda c: c.update(proof=None), "proof"),
    ],
)
async def test_a_credential_with_a_part_of_the_wrong_type_names_it(
    change: Any, field: str, redis_url: str, topic_root: str
) -> None:
    credential = a_credential()
    change(credential)
    async with query_service(redis_url, topic_root) as app:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.21", 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
            answer = await client.post("/verifications", json=credential)
            intact = await client.post("/verifications", json=a_credential())
    assert answer.status_code == 422, answer.text
    assert field in [error["field"] for error in answer.json()["detail"]]
    assert intact.status_code == 200 and intact.json()["checks"][0]["name"] == "integrity"


def a_credential() -> dict[str, Any]:
    """The shape of an issued credential (its hashes and signature do not matter here)."""
    number = samples.certificate_number()
    return {
        "id": f"urn:skillcert:certificate:{number}",
        "issuer": {"id": "urn:skillcert:province:33", "name": "浙江省人力资源和社会保障厅"},
        "validFrom": "2026-03-03T00:00:00+08:00",
        "credentialStatus": {"statusListIndex": "7", "statusListCredential": "https://cx.example.cn/status-lists/33/1"},
        "credentialSubject": {
            "certificateNumber": number,
            "issuedOn": "2026-03-03",
            "organizationCode": number[:13],
            "occupationCode": "6-18-01-01",
            "level": 4,
            "province": "33",
        },
        "proof": {
            "type": "MerkleProof2019",
            "verificationMethod": samples.KEY_ID,
            "salts": {},
            "obfuscated": [],
            "targetHash": "00" * 32,
            "merkleProof": [],
            "merkleRoot": "00" * 32,
            "proofValue": "AA",
        },
    }


async def test_verifications_declares_its_body_and_its_errors(redis_url: str, topic_root: str) -> None:
    async with query_service(redis_url, topic_root, max_upload_bytes=1024) as app, client_of(app) as client:
        document = (await client.get("/openapi.json")).json()
        too_large = await client.post(
            "/verifications", content=b" " * 2048, headers={"Content-Type": "application/json"}
        )
    assert too_large.status_code == 413 and isinstance(too_large.json()["detail"], str)
    operation = document["paths"]["/verifications"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert "credentialSubject" in body["content"]["application/json"]["schema"]["required"]
    for code, shape in [("413", "ErrorMessage"), ("422", "FieldErrors"), ("429", "ErrorMessage")]:
        assert operation["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith(shape), code


# --- D11: orphaned workers (the mechanism itself: tests/service/test_query_workers.py) ----------------------------


async def test_each_query_worker_ends_with_its_master(redis_url: str, topic_root: str) -> None:
    async with query_service(redis_url, topic_root) as app:
        assert exit_with_master in app.state.runtime.on_start
