"""Complaints and reports (投诉举报) through the public query service: forwarded to the supervision of the province
they name, which alone keeps them. The query app over ASGI (fair use on the test Redis), in front of a stand-in
supervision that implements supervision's intake contract (POST /complaints, GET /complaints/{tracking_code}),
in-process behind httpx.ASGITransport as recognition reaches the query service in tests/harness.py."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, StringConstraints, ValidationError, model_validator
from redis.asyncio import Redis

from services.query import app as query_app
from services.query.settings import QuerySettings
from shared.kernel.clock import CHINA
from tests.service.conftest import TRACER_PROVIDER

TRACKING_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACKING_CODE = r"^\d{2}-[0-9A-HJKMNP-TV-Z]{12}$"
NAME, PHONE, EMAIL = "李投诉", "13900001234", "li.tousu@example.cn"


# --- a stand-in of supervision's intake -----------------------------------------------------------------------


class Contact(BaseModel):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class ComplaintIn(BaseModel):
    """Supervision's `POST /complaints` body, as its contract states it."""

    about: Literal["organization", "batch", "certificate", "person"]
    reference: str = Field(min_length=1, max_length=100)
    organization_code: str | None = None
    text: str = Field(min_length=10, max_length=4000)
    anonymous: bool
    contact: Contact | None = None
    attachments: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _contact_or_anonymous(self) -> ComplaintIn:
        if self.anonymous and self.contact is not None:
            raise ValueError("an anonymous complaint carries no contact details")
        if not self.anonymous and not (self.contact and (self.contact.phone or self.contact.email)):
            raise ValueError("give a phone number or an e-mail address for the reply, or complain anonymously")
        return self


@dataclass
class StandInSupervision:
    """A province's supervision intake in memory: what it received (body and headers) and what it keeps.
    `fail` makes it answer anything else (a crash, a proxy's HTML page)."""

    province: str
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    complaints: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: Callable[[], Any] | None = None
    extra_status_fields: dict[str, Any] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.exception_handler(RequestValidationError)
        async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "reason": e["msg"]} for e in error.errors()
            ]
            return JSONResponse(status_code=422, content={"detail": errors})

        @app.post("/complaints", status_code=201)
        async def receive(request: Request) -> Any:
            body = await request.body()
            self.received.append((body, dict(request.headers)))
            if self.fail is not None:
                return self.fail()
            try:
                complaint = ComplaintIn.model_validate_json(body)
            except ValidationError as error:
                raise RequestValidationError(error.errors()) from error
            code = f"{self.province}-" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(12))
            today = datetime.now(CHINA).date()
            receipt = {
                "tracking_code": code,
                "status": "received",
                "received_on": today.isoformat(),
                "acknowledge_by": (today + timedelta(days=7)).isoformat(),
                "handle_by": (today + timedelta(days=84)).isoformat(),
            }
            self.complaints[code] = {"complaint": complaint.model_dump(), **receipt}
            return receipt

        @app.get("/complaints/{tracking_code}")
        async def status(tracking_code: Annotated[str, PathParameter(pattern=TRACKING_CODE)]) -> Any:
            if self.fail is not None:
                return self.fail()
            kept = self.complaints.get(tracking_code)
            if kept is None:
                return JSONResponse(status_code=404, content={"detail": f"no complaint {tracking_code}"})
            complaint = kept["complaint"]
            return {
                "tracking_code": tracking_code,
                "about": complaint["about"],
                "reference": complaint["reference"],
                "status": kept["status"],
                "received_on": kept["received_on"],
                "acknowledged_on": kept.get("acknowledged_on"),
                "acknowledge_by": kept["acknowledge_by"],
                "handle_by": kept["handle_by"],
                "late": False,
                "outcome": kept.get("outcome"),
                "reply": kept.get("reply"),
                "closed_on": kept.get("closed_on"),
                **self.extra_status_fields,
            }

        return app

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app()), base_url=f"http://supervision-{self.province}"
        )

    def close(self, tracking_code: str, *, outcome: str, reply: str) -> None:
        """What the province's official does: acknowledges, investigates and closes the complaint with a reply."""
        today = datetime.now(CHINA).date().isoformat()
        self.complaints[tracking_code].update(
            status="closed", acknowledged_on=today, outcome=outcome, reply=reply, closed_on=today
        )


# --- the query service in front of it ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def query_in_front(
    redis_url: str,
    prefix: str,
    clients: dict[str, httpx.AsyncClient] | None = None,
    **settings: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The query app (no lifespan: its consumers are not needed) with these supervision clients, over ASGI."""
    app = query_app.create(
        QuerySettings(
            **{
                "redis_url": redis_url,
                "id_hash_key": "service-tier-id-hash-key",
                "redis_prefix": prefix,
                "lookup_limits": "100000/minute",
                "miss_limits": "100000/minute",
                **settings,
            }
        ),
        TRACER_PROVIDER,
        read_model_id="complaints",
        supervision_clients=clients,
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client
    finally:
        for hook in app.state.runtime.on_stop:
            result = hook()
            if hasattr(result, "__await__"):
                await result
        for supervision in (clients or {}).values():
            await supervision.aclose()
        redis = Redis.from_url(redis_url)
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


@pytest.fixture
def prefix(topic_root: str) -> str:
    return f"{topic_root}:"


@pytest.fixture
def zhejiang() -> StandInSupervision:
    return StandInSupervision("33")


def complaint(**changes: Any) -> dict[str, Any]:
    return {
        "about": "organization",
        "reference": "S000033000001",
        "organization_code": "S000033000001",
        "text": "考点未核验考生身份，有人替考。考场监控未开启。",
        "anonymous": False,
        "contact": {"name": NAME, "phone": PHONE, "email": EMAIL},
        "attachments": ["a" * 64],
        **changes,
    }


async def redis_text(redis_url: str, prefix: str) -> str:
    """Every key and value under the prefix (the read model and the fair-use counters), as one text."""
    redis = Redis.from_url(redis_url)
    values: list[Any] = []
    try:
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            values.append(key)
            kind = text(await redis.type(key))
            if kind == "string":
                values.append(await redis.get(key))
            elif kind == "hash":
                values += [item for pair in (await redis.hgetall(key)).items() for item in pair]
            elif kind == "set":
                values += list(await redis.smembers(key))
            elif kind == "zset":
                values += list(await redis.zrange(key, 0, -1))
            elif kind == "list":
                values += list(await redis.lrange(key, 0, -1))
    finally:
        await redis.aclose()
    return "\n".join(text(value) for value in values)


def text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# --- forwarding -------------------------------------------------------------------------------------------


async def test_a_complaint_is_forwarded_unchanged_and_followed_by_its_tracking_code(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    body = json.dumps(complaint(), ensure_ascii=False).encode()
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}) as client:
        response = await client.post(
            "/complaints/33",
            content=body,
            headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.7", "Cookie": "session=1"},
        )
        assert response.status_code == 201, response.text
        receipt = response.json()
        code = receipt["tracking_code"]
        assert code.startswith("33-") and len(code) == 15
        assert {k: zhejiang.complaints[code][k] for k in receipt} == receipt
        [(forwarded, headers)] = zhejiang.received
        assert forwarded == body  # byte for byte
        assert headers["content-type"] == "application/json"
        assert not {"x-forwarded-for", "cookie", "x-partner-key"} & set(headers)  # nothing of the caller

        status = await client.get(f"/complaints/{code}")
        assert status.status_code == 200
        assert status.json() == {
            "tracking_code": code,
            "about": "organization",
            "reference": "S000033000001",
            "status": "received",
            "received_on": receipt["received_on"],
            "acknowledged_on": None,
            "acknowledge_by": receipt["acknowledge_by"],
            "handle_by": receipt["handle_by"],
            "late": False,
            "outcome": None,
            "reply": None,
            "closed_on": None,
        }
        zhejiang.close(code, outcome="upheld", reply="经核查，投诉属实，已责令该机构限期整改。")
        closed = (await client.get(f"/complaints/{code.lower()}")).json()  # typed in lower case on a phone
        assert (closed["status"], closed["outcome"]) == ("closed", "upheld")
        assert closed["reply"] == "经核查，投诉属实，已责令该机构限期整改。"


async def test_only_the_documented_status_reaches_the_public(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    """A supervision release that sent more with the status (the contact, the text) would not publish it here."""
    zhejiang.extra_status_fields = {"contact": {"phone": PHONE}, "text": "考点未核验考生身份"}
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}) as client:
        code = (await client.post("/complaints/33", json=complaint())).json()["tracking_code"]
        response = await client.get(f"/complaints/{code}")
    assert response.status_code == 200
    assert "contact" not in response.json() and "text" not in response.json()
    assert PHONE not in response.text


async def test_supervisions_refusal_comes_back_as_it_is(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}) as client:
        anonymous_with_contact = await client.post("/complaints/33", json=complaint(anonymous=True))
        too_short = await client.post("/complaints/33", json=complaint(text="太短"))
        not_json = await client.post("/complaints/33", content=b"{", headers={"Content-Type": "application/json"})
        unknown = await client.get("/complaints/33-0000000000ZZ")
    assert anonymous_with_contact.status_code == 422
    [error] = anonymous_with_contact.json()["detail"]
    assert "anonymous complaint carries no contact" in error["reason"]
    assert too_short.status_code == 422 and too_short.json()["detail"][0]["field"] == "text"
    assert not_json.status_code == 422
    assert unknown.status_code == 404 and unknown.json() == {"detail": "no complaint 33-0000000000ZZ"}
    assert zhejiang.complaints == {}


# --- provinces without supervision, supervision down ------------------------------------------------------


async def test_a_province_without_supervision_here_is_404_and_bad_input_422(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}) as client:
        for response in (
            await client.post("/complaints/45", json=complaint()),  # a province, but none configured here
            await client.post("/complaints/99", json=complaint()),  # no such province
            await client.get("/complaints/32-8H4K2M9QX4PZ"),
        ):
            assert response.status_code == 404
            assert set(response.json()) == {"detail"} and isinstance(response.json()["detail"], str)
            assert "takes no complaints here" in response.json()["detail"]
        for url, method, fault in (
            ("/complaints/3x", "POST", "path.province"),
            ("/complaints/333", "POST", "path.province"),
            ("/complaints/33-8H4K2M9QX4PI", "GET", "path.tracking_code"),  # I is not in the alphabet
            ("/complaints/33-8H4K2M9QX4P", "GET", "path.tracking_code"),
        ):
            response = await client.request(method, url, json=complaint())
            assert response.status_code == 422, url
            [error] = response.json()["detail"]
            assert error["field"] == fault and error["reason"]
        too_large = await client.post("/complaints/33", json=complaint(text="长" * 40_000))
        assert too_large.status_code == 413
    assert zhejiang.received == []


def refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused to supervision-33.internal:8000", request=request)


@pytest.mark.parametrize("broken", ["unreachable", "crashes", "not JSON"])
async def test_supervision_not_answering_is_503_and_nothing_leaks(
    redis_url: str, prefix: str, zhejiang: StandInSupervision, broken: str
) -> None:
    if broken == "unreachable":
        supervision = httpx.AsyncClient(transport=httpx.MockTransport(refusing), base_url="http://supervision-33")
    else:
        zhejiang.fail = (
            (lambda: JSONResponse(status_code=500, content={"detail": "Traceback: sqlite3.OperationalError at db"}))
            if broken == "crashes"
            else (lambda: HTMLResponse("<html>502 Bad Gateway</html>"))
        )
        supervision = zhejiang.client()
    async with query_in_front(redis_url, prefix, {"33": supervision}) as client:
        for response in (
            await client.post("/complaints/33", json=complaint()),
            await client.get("/complaints/33-8H4K2M9QX4PZ"),
        ):
            assert response.status_code == 503
            assert response.json() == {
                "detail": "the supervision service of province 33 is not answering; please try again later "
                "(投诉举报受理服务暂时不可用，请稍后再试)"
            }


async def test_a_configured_url_that_nobody_answers_is_503(redis_url: str, prefix: str) -> None:
    """The clients made from QUERY_SUPERVISION_URLS (nothing listens on port 1)."""
    async with query_in_front(redis_url, prefix, supervision_urls={"33": "http://127.0.0.1:1"}) as client:
        response = await client.post("/complaints/33", json=complaint())
        assert response.status_code == 503
        assert (await client.post("/complaints/32", json=complaint())).status_code == 404


def test_the_supervision_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUERY_ID_HASH_KEY", "k")
    monkeypatch.setenv("QUERY_SUPERVISION_URLS", '{"33": "http://127.0.0.1:8334", "32": "http://127.0.0.1:8324"}')
    assert QuerySettings().supervision_urls == {"33": "http://127.0.0.1:8334", "32": "http://127.0.0.1:8324"}
    monkeypatch.setenv("QUERY_SUPERVISION_URLS", '{"zj": "http://127.0.0.1:8334"}')
    with pytest.raises(ValidationError, match="two-digit"):
        QuerySettings()


# --- privacy and fair use ---------------------------------------------------------------------------------


async def test_no_contact_details_are_kept_or_logged(
    redis_url: str, prefix: str, zhejiang: StandInSupervision, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}) as client:
        code = (await client.post("/complaints/33", json=complaint())).json()["tracking_code"]
        await client.get(f"/complaints/{code}")
        await client.post("/complaints/33", json=complaint(anonymous=True))  # refused by supervision
        zhejiang.fail = lambda: JSONResponse(status_code=500, content={"detail": "down"})
        await client.post("/complaints/33", json=complaint())  # supervision fails
        kept = await redis_text(redis_url, prefix)
    assert caplog.records, "the forwarding logs something (httpx at least), so this checks something"
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    for personal in (NAME, PHONE, EMAIL, "替考"):
        assert personal not in logged
        assert personal not in kept


async def test_complaints_count_against_the_lookup_limits(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}, lookup_limits="3/minute") as client:
        code = (await client.post("/complaints/33", json=complaint())).json()["tracking_code"]
        assert (await client.get(f"/complaints/{code}")).status_code == 200
        assert (await client.post("/complaints/33", json=complaint())).status_code == 201
        past = await client.post("/complaints/33", json=complaint())
        assert past.status_code == 429 and past.headers["Retry-After"]
    assert len(zhejiang.received) == 2  # the refused one never reached supervision


async def test_a_code_not_found_is_a_miss_and_past_the_miss_limit_the_client_waits(
    redis_url: str, prefix: str, zhejiang: StandInSupervision
) -> None:
    async with query_in_front(redis_url, prefix, {"33": zhejiang.client()}, miss_limits="2/minute") as client:
        code = (await client.post("/complaints/33", json=complaint())).json()["tracking_code"]
        for _ in range(3):
            assert (await client.get(f"/complaints/{code}")).status_code == 200  # found: not a miss
        assert (await client.get("/complaints/33-0000000000ZZ")).status_code == 404  # miss 1
        assert (await client.get("/complaints/32-0000000000ZZ")).status_code == 404  # miss 2: no supervision of 32
        guessing = await client.get("/complaints/33-0000000000ZY")  # miss 3
        assert guessing.status_code == 429 and guessing.headers["Retry-After"]
        assert (await client.get(f"/complaints/{code}")).status_code == 429  # blocked for a while, for everything
        assert (await client.post("/complaints/33", json=complaint())).status_code == 429
    assert len(zhejiang.received) == 1
