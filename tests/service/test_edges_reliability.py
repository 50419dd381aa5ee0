"""The reliability review's edges (reviews/reliability.md D5, D6, D11/1e): request bodies are bounded before
they are read, bad uploads and big integers are 422 and never 500, and a retried step with an `Idempotency-Key`
gets its first answer without being taken again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from sqlmodel import Session, select

from infra.walkthrough import batch_plan, candidate, filed_organization
from services.registry.models import Organization
from shared.kernel.clock import Clock
from shared.platform.db import make_engine
from shared.platform.idempotency import Idempotency, IdempotencyKey
from shared.platform.limits import MIB, BodyLimit
from shared.platform.outbox import OutboxEvent
from tests.service.conftest import ServiceBus, running
from tests.service.samples import filed_replica, organization_filed

BIG = str(2**63)  # one past the largest integer a database column holds


class CountingBody:
    """A request body sent in 64 KiB chunks that counts how much of it the server pulled."""

    def __init__(self, size: int, chunk: int = 64 * 1024) -> None:
        self.size, self.chunk, self.pulled = size, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        piece = b"[" + b" " * (self.chunk - 1)
        while self.pulled < self.size:
            self.pulled += len(piece)
            yield piece


# --- D5: request size limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_50_mb_body_to_the_public_verify_is_413_and_not_read(
    tmp_path: Path, topic_root: str, framing: str
) -> None:
    body = CountingBody(50 * MIB)
    headers = {"Content-Type": "application/json"}
    if framing == "content-length":
        headers["Content-Length"] = str(50 * MIB)
    async with (
        running("certificates", tmp_path=tmp_path, topic_root=topic_root) as certificates,
        certificates.http() as client,
    ):
        response = await client.post("/verify", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert "1048576 bytes" in response.json()["detail"]
    if framing == "content-length":
        assert body.pulled == 0  # refused on the header alone
    else:
        assert body.pulled <= MIB + 64 * 1024  # read up to the limit and one chunk, not 50 MB


async def test_routes_have_their_own_limits_and_the_openapi_says_413(tmp_path: Path, topic_root: str) -> None:
    async with running("certificates", tmp_path=tmp_path, topic_root=topic_root) as certificates:
        operator = certificates.token("org_operator", "S000033000001")
        async with certificates.http() as client:
            # 1.5 MB is past the default but within the photo's own limit: the route judges it (not an image).
            photo = await client.put(
                "/certificates/S00003300000126400001/photo", content=b"x" * (3 * MIB // 2), headers=operator
            )
            assert photo.status_code == 422, photo.text
            big = await client.put(
                "/certificates/S00003300000126400001/photo", content=b"x" * (3 * MIB), headers=operator
            )
            assert big.status_code == 413
        schema = certificates.app.openapi() if certificates.app else {}
    assert "413" in schema["paths"]["/verify"]["post"]["responses"]
    assert "2162688 bytes" in schema["paths"]["/certificates/{number}/photo"]["put"]["responses"]["413"]["description"]
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root) as recognition:
        assert recognition.app is not None
        upload = recognition.app.openapi()["paths"]["/batches/{batch_id}/candidates"]["post"]
    assert f"{64 * MIB} bytes" in upload["responses"]["413"]["description"]


async def test_the_limit_counts_a_streamed_body_for_a_route_that_reads_it_itself() -> None:
    """A route reading `request.stream()` (the candidate upload) stops at the limit: 413, the route's own answer
    dropped, and the rest never read."""
    app = FastAPI()
    seen: list[int] = []

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            seen.append(total)
        return {"read": total}

    limited = BodyLimit(app, default=100, limits={"/upload": 256 * 1024})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited), base_url="http://t") as client:
        small = await client.post("/upload", content=b"x" * 1000)
        assert small.json() == {"read": 1000}
        body = CountingBody(10 * MIB)
        refused = await client.post("/upload", content=body)
        assert refused.status_code == 413
        assert body.pulled <= 256 * 1024 + 64 * 1024
        assert (await client.post("/other", content=b"x" * 101)).status_code == 413


# --- D6: bad uploads and big integers are 422, never 500 ---------------------------------------------------------


async def draft_batch(recognition: ServiceBus, client: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    filed = organization_filed(levels=[5, 4, 3])
    with recognition.unit() as unit:
        unit.session.add(filed_replica(Clock().today(), levels=[5, 4, 3]))
    operator = recognition.token("org_operator", filed.filing_code)
    plan = batch_plan(filed.filing_code, "33", candidates=[candidate("33", 0)], level=3)
    created = await client.post("/batches", json=plan, headers=operator)
    assert created.status_code == 201, created.text
    return created.json()["id"], operator


async def test_bad_candidate_uploads_are_422_naming_the_line(tmp_path: Path, topic_root: str) -> None:
    header = b"name,id_type,id_number\n"
    cases = {
        "text/csv": [
            (header + b"A" * 200_000 + b",x,y\n", "line 2", "131072"),
            (header + b"\xff\xfe,x,y\n", "line 2", "not UTF-8"),
        ],
        "application/x-ndjson": [
            (b'{"name": "\xff"}\n', "line 1", "not UTF-8"),
            (b'{"name": "x"}\n' + b"[" * 5000 + b"]" * 5000 + b"\n", "line 2", "nested too deep"),
        ],
    }
    async with (
        running("recognition", tmp_path=tmp_path, topic_root=topic_root) as recognition,
        recognition.http(raise_app_exceptions=False) as client,
    ):
        batch_id, operator = await draft_batch(recognition, client)
        for content_type, uploads in cases.items():
            for body, line, reason in uploads:
                response = await client.post(
                    f"/batches/{batch_id}/candidates",
                    content=body,
                    headers={**operator, "Content-Type": content_type},
                )
                assert response.status_code == 422, (content_type, reason, response.text)
                detail = response.json()["detail"]
                assert any(e["field"] == line and reason in e["reason"] for e in detail), detail
        count = await client.get(f"/batches/{batch_id}/candidates", headers=operator)
        assert count.json()["count"] == 1  # only the plan's own candidate


@pytest.mark.parametrize(
    ("service", "role", "method", "path"),
    [
        ("registry", "province_official", "GET", f"/applications/{BIG}"),
        ("registry", "province_official", "POST", f"/applications/{BIG}/file"),
        ("recognition", "province_official", "GET", f"/new-site-batches?skip={BIG}"),
        ("certificates", "province_official", "GET", f"/certificates?skip={BIG}"),
        ("certificates", "province_official", "GET", f"/status-lists/33/{BIG}"),
        ("supervision", "inspector", "GET", f"/inspectable-organizations?skip={BIG}"),
        ("supervision", "province_official", "POST", f"/alerts/{BIG}/decision"),
    ],
)
async def test_integers_past_what_the_database_holds_are_422(
    tmp_path: Path, topic_root: str, service: str, role: str, method: str, path: str
) -> None:
    async with (
        running(service, tmp_path=tmp_path, topic_root=topic_root) as bus,
        bus.http(raise_app_exceptions=False) as client,
    ):
        response = await client.request(method, path, headers=bus.token(role), json={} if method == "POST" else None)
    assert response.status_code == 422, response.text
    assert any("less than or equal" in e["reason"] for e in response.json()["detail"]), response.text


# --- D11/1e: Idempotency-Key -------------------------------------------------------------------------------------


async def test_a_step_retried_with_its_key_is_taken_once_and_answered_the_same(tmp_path: Path, topic_root: str) -> None:
    async with running("registry", tmp_path=tmp_path, topic_root=topic_root) as registry:
        official = registry.token("province_official")
        keyed = {**official, "Idempotency-Key": "register-1"}
        async with registry.http() as client:
            first = await client.post("/organizations", json=filed_organization("33"), headers=keyed)
            assert first.status_code == 201, first.text
            organizations, events = registry.count(Organization), registry.count(OutboxEvent)
            again = await client.post("/organizations", json=filed_organization("33"), headers=keyed)
            assert (again.status_code, again.json()) == (201, first.json())
            assert again.headers["idempotent-replayed"] == "true"
            assert (registry.count(Organization), registry.count(OutboxEvent)) == (organizations, events)
            other = await client.post("/organizations", json=filed_organization("33", 2), headers=keyed)
            assert other.status_code == 422
            assert other.json()["detail"][0]["field"] == "header.Idempotency-Key"
            assert "another request" in other.json()["detail"][0]["reason"]
            assert registry.count(Organization) == organizations
            # The key is the caller's own: another official's same key is another request, and so is no key.
            second = registry.token("province_official", subject="another-official")
            theirs = await client.post(
                "/organizations", json=filed_organization("33", 2), headers={**second, "Idempotency-Key": "register-1"}
            )
            assert theirs.status_code == 201, theirs.text
            schema = registry.app.openapi() if registry.app else {}
    operation = schema["paths"]["/organizations"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
    assert not any(
        p["name"] == "Idempotency-Key" for p in schema["paths"]["/organizations"]["get"].get("parameters", [])
    )


def keyed_app(tmp_path: Path) -> tuple[FastAPI, Idempotency, list[str], asyncio.Event, asyncio.Event]:
    engine = make_engine(f"sqlite:///{tmp_path / 'idempotency.db'}")
    IdempotencyKey.metadata.create_all(engine, tables=[IdempotencyKey.metadata.tables["idempotency_key"]])
    app = FastAPI()
    done: list[str] = []
    entered, release = asyncio.Event(), asyncio.Event()

    @app.post("/steps")
    async def step(payload: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        await release.wait()
        if payload.get("fail"):
            raise HTTPException(503, "not now; nothing was changed")
        done.append(payload["name"])
        return {"done": len(done), "name": payload["name"]}

    middleware = Idempotency(app, engine=engine, principal_of=lambda scope: "official|x|p1")
    return app, middleware, done, entered, release


async def test_a_request_with_a_key_in_progress_is_409_and_a_failure_is_not_kept(tmp_path: Path) -> None:
    _app, middleware, done, entered, release = keyed_app(tmp_path)
    headers = {"Idempotency-Key": "k-1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://t") as client:
        first = asyncio.create_task(client.post("/steps", json={"name": "a"}, headers=headers))
        await asyncio.wait_for(entered.wait(), 5)
        meanwhile = await client.post("/steps", json={"name": "a"}, headers=headers)
        assert meanwhile.status_code == 409 and "in progress" in meanwhile.json()["detail"]
        assert meanwhile.headers["retry-after"] == "1"
        release.set()
        answered = await first
        assert answered.json() == {"done": 1, "name": "a"}
        replayed = await client.post("/steps", json={"name": "a"}, headers=headers)
        assert (replayed.status_code, replayed.json()) == (200, answered.json()) and done == ["a"]
        # A 5xx ("try again") is not kept: the retry runs the step.
        failed = await client.post("/steps", json={"name": "b", "fail": True}, headers={"Idempotency-Key": "k-2"})
        assert failed.status_code == 503
        retried = await client.post("/steps", json={"name": "b"}, headers={"Idempotency-Key": "k-2"})
        assert retried.json() == {"done": 2, "name": "b"}
        bad = await client.post("/steps", json={"name": "c"}, headers={"Idempotency-Key": "a key"})
        assert bad.status_code == 422
    with Session(middleware.engine) as session:
        assert len(session.exec(select(IdempotencyKey)).all()) == 2


async def test_a_key_is_kept_for_its_hours_then_forgotten(tmp_path: Path) -> None:
    _app, middleware, done, _entered, release = keyed_app(tmp_path)
    release.set()
    headers = {"Idempotency-Key": "k-1"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://t") as client:
        await client.post("/steps", json={"name": "a"}, headers=headers)
        with Session(middleware.engine) as session, session.begin():
            row = session.exec(select(IdempotencyKey)).one()
            row.started_at -= middleware.keep_seconds + 1
        again = await client.post("/steps", json={"name": "a"}, headers=headers)
    assert again.json() == {"done": 2, "name": "a"} and done == ["a", "a"]
    assert json.loads(json.dumps(again.json()))  # an answer of its own, not the forgotten one
