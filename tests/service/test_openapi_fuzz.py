"""Every service's HTTP API as schemathesis sees it: for each role the service serves (and the public, where routes
take no token), a fixed number of generated requests per operation, each answer checked against the OpenAPI
document: never a server error, a documented status code and content type, a body of the documented schema.

Each service runs on SQLite (the query service on the test Redis) without its lifespan, seeded with a little state
by its own events and routes, so the requests reach the service's logic and not only the validation: known ids
(an organization, batches in every state, certificates, a plan, an inspection, a complaint) are given as path
parameters to half the generated requests, valid by the document and not (schemathesis' positive and negative
modes). A role is sent only to the operations it may call (the route's `require_role`): that it is
refused elsewhere is the authorization tests' business. Every failure of every operation is collected and
reported at the end: the operation, the status, the check, the start of the body and of the request.

SQLite takes text PostgreSQL refuses (a NUL character): the last test sends that to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from starlette.routing import BaseRoute

from infra.servers import PostgresServer
from infra.walkthrough import expect, filed_organization, organization_application
from services.certificates.models import Certificate
from shared.platform.auth import PARTNER_HEADER, Role
from shared.platform.errors import NUL_REASON
from tests.service import samples
from tests.service.conftest import ServiceBus, running
from tests.service.test_recognition_followup import every_stage, followed
from tests.service.test_recognition_supervision import CODE as RECOGNITION_ORGANIZATION
from tests.service.test_supervision import drawn_inspection, pool_and_batch
from tests.service.test_supervision_cases import complaint

# The requests each operation gets, shared among the callers that may call it (each at least MIN_EXAMPLES), each
# caller's from its own seed: an operation every role may call is not fuzzed six times over with the same requests.
EXAMPLES_PER_OPERATION = 12
MIN_EXAMPLES = 4
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
# Operations not fuzzed, each with why. Keep it short: an answer that is right but undocumented is documented.
NOT_FUZZED: dict[str, str] = {}
PARTNER_KEY = "fuzz-partner-key"
BODY_EXCERPT = 300


@dataclass(frozen=True)
class Caller:
    """Who sends the requests: a role's token (with the claims it needs), or the public (`role` None)."""

    name: str
    role: Role | None = None
    organization: str | None = None
    subject: str | None = None
    partner: bool = False  # the query service: a partner system's key, which fair use does not limit

    def headers(self, bus: ServiceBus) -> dict[str, str]:
        if self.partner:
            return {PARTNER_HEADER: PARTNER_KEY}
        if self.role is None:
            return {}
        return bus.token(self.role, self.organization, subject=self.subject)


PUBLIC = Caller("public")
OFFICIAL = Caller("province_official", Role.PROVINCE_OFFICIAL)
CITY = Caller("city_official", Role.CITY_OFFICIAL)
COUNTY = Caller("county_official", Role.COUNTY_OFFICIAL)
DEPARTMENT = Caller("testing_department", Role.TESTING_DEPARTMENT)
EXPERT_ID = "33-E000001"  # the first expert supervision registers (pool_and_batch)
CALLERS: dict[str, list[Caller]] = {
    "registry": [
        PUBLIC,
        OFFICIAL,
        CITY,
        COUNTY,
        Caller("inspector", Role.INSPECTOR),
        Caller("org_operator", Role.ORG_OPERATOR, samples.ORGANIZATION),
    ],
    "recognition": [
        Caller("org_operator", Role.ORG_OPERATOR, RECOGNITION_ORGANIZATION),
        DEPARTMENT,
        OFFICIAL,
        CITY,
        COUNTY,
        Caller("inspector", Role.INSPECTOR),
    ],
    "certificates": [
        PUBLIC,
        OFFICIAL,
        Caller("org_operator", Role.ORG_OPERATOR, samples.ORGANIZATION),
        Caller("inspector", Role.INSPECTOR),
    ],
    "supervision": [
        PUBLIC,
        OFFICIAL,
        CITY,
        Caller("inspector", Role.INSPECTOR, subject=EXPERT_ID),
        Caller("expert", Role.EXPERT, subject=EXPERT_ID),
        Caller("org_operator", Role.ORG_OPERATOR, samples.ORGANIZATION),
    ],
    "query": [PUBLIC, Caller("partner", partner=True)],
}


@dataclass
class Seeded:
    """A service with some state, and the ids of it that path parameters may name (each name: its values)."""

    bus: ServiceBus
    client: httpx.AsyncClient
    known: dict[str, list[Any]]


@dataclass(frozen=True)
class Finding:
    operation: str
    status: int | None
    check: str
    detail: str
    body: str
    sent: str

    def __str__(self) -> str:
        status = self.status if self.status is not None else "no answer"
        return (
            f"{self.operation} -> {status} [{self.check}] {self.detail}\n    body: {self.body}\n    sent: {self.sent}"
        )


# --- the services, seeded ---------------------------------------------------------------------------------


async def _registry(bus: ServiceBus, client: httpx.AsyncClient) -> dict[str, list[Any]]:
    official = bus.token(Role.PROVINCE_OFFICIAL)
    today = bus.runtime.clock.today()
    filed = expect(
        await client.post("/organizations", json=filed_organization(samples.PROVINCE, today=today), headers=official),
        201,
    )
    submitted = expect(
        await client.post("/applications", json=organization_application(samples.PROVINCE, 2), headers=official), 201
    )
    return {
        "filing_code": [filed["filing_code"]],
        "application_id": [filed["id"], submitted["id"]],
        "code": ["6-18-01-01"],
    }


async def _recognition(bus: ServiceBus, client: httpx.AsyncClient) -> dict[str, list[Any]]:
    batches = await every_stage(bus, client)
    return {"batch_id": list(batches.values()), "organization_code": [RECOGNITION_ORGANIZATION]}


async def _certificates(bus: ServiceBus, client: httpx.AsyncClient) -> dict[str, list[Any]]:
    await bus.deliver(samples.envelope(samples.organization_filed()))
    await bus.deliver(samples.envelope(samples.batch_results()))
    numbers = [c.number for c in bus.rows(Certificate)]
    assert numbers, "the approved batch issued no certificate"
    return {"number": numbers, "province": [samples.PROVINCE], "list_number": [0]}


async def _supervision(bus: ServiceBus, client: httpx.AsyncClient) -> dict[str, list[Any]]:
    inspection_id, _inspectors = await drawn_inspection(bus, client)
    plans = expect(await client.get("/plans", headers=bus.token(Role.PROVINCE_OFFICIAL)), 200)["data"]
    receipt = expect(await client.post("/complaints", json=complaint()), 201)
    return {
        "batch_id": [samples.BATCH],
        "filing_code": [samples.ORGANIZATION],
        "expert_id": [EXPERT_ID],
        "plan_id": [plan["id"] for plan in plans],
        "inspection_id": [inspection_id],
        "tracking_code": [receipt["tracking_code"]],
    }


async def _query(bus: ServiceBus, client: httpx.AsyncClient) -> dict[str, list[Any]]:
    for payload in (
        samples.organization_filed(),
        samples.certificate_issued(),
        samples.signing_key(),
        samples.batch_plan(),
        samples.plan_published(),
        samples.draw_made(),
        samples.inspection_recorded(),
        samples.organization_rated(),
    ):
        await bus.deliver(samples.envelope(payload))
    assert bus.store is not None
    bus.app.state.fair_use.partner_keys = [PARTNER_KEY.encode()]  # type: ignore[union-attr]
    return {"number": [samples.certificate_number()], "province": [samples.PROVINCE], "plan_id": ["33-P000001"]}


SEEDS: dict[str, Callable[[ServiceBus, httpx.AsyncClient], Any]] = {
    "registry": _registry,
    "recognition": _recognition,
    "certificates": _certificates,
    "supervision": _supervision,
    "query": _query,
}


@contextlib.asynccontextmanager
async def _seeded(service: str, tmp_path: Path, topic_root: str, redis_url: str) -> AsyncIterator[Seeded]:
    if service == "recognition":
        async with followed(tmp_path, topic_root) as (bus, client):
            yield Seeded(bus, client, await _recognition(bus, client))
        return
    if service == "supervision":
        async with (
            running(
                service,
                tmp_path=tmp_path,
                topic_root=topic_root,
                adjustable_clock=True,
                clock_file=tmp_path / "clock.days",
            ) as bus,
            pool_and_batch(bus) as (client, _experts),
        ):
            yield Seeded(bus, client, await _supervision(bus, client))
        return
    async with (
        running(service, tmp_path=tmp_path, topic_root=topic_root, redis_url=redis_url) as bus,
        bus.http() as client,
    ):
        yield Seeded(bus, client, await SEEDS[service](bus, client))


# --- which operations a caller may call --------------------------------------------------------------------


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:  # an included router
            yield from _api_routes(included.routes)


def _roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles the route's `require_role` lets in, or None for a route that takes no token."""
    roles: set[Role] | None = None
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        call = dependant.call
        if call is not None and getattr(call, "__qualname__", "") == "require_role.<locals>.dependency":
            roles = (roles or set()) | set(inspect.getclosurevars(call).nonlocals["roles"])
        pending.extend(dependant.dependencies)
    return None if roles is None else frozenset(roles)


def served_operations(app: FastAPI) -> dict[str, frozenset[Role] | None]:
    """`METHOD /path` of every documented operation: the roles that may call it (None: no token)."""
    return {
        f"{method} {route.path}": _roles(route)
        for route in _api_routes(app.routes)
        if route.include_in_schema
        for method in route.methods or ()
    }


def _serves(roles: frozenset[Role] | None, caller: Caller) -> bool:
    return roles is None if caller.role is None else roles is not None and caller.role in roles


def _examples(roles: frozenset[Role] | None, callers: Sequence[Caller]) -> int:
    """The caller's share of the operation's requests."""
    sharing = sum(1 for caller in callers if _serves(roles, caller))
    return max(MIN_EXAMPLES, -(-EXAMPLES_PER_OPERATION // sharing))


# --- the fuzzing -------------------------------------------------------------------------------------------


def _request(case: schemathesis.Case[Any]) -> dict[str, Any]:
    """The case as httpx's request arguments (schemathesis serializes for `requests`)."""
    sent = case.as_transport_kwargs(base_url="http://test")
    request: dict[str, Any] = {
        "method": sent["method"],
        "url": sent["url"],
        "headers": sent["headers"],
        "params": sent.get("params"),
    }
    if "json" in sent:
        request["json"] = sent["json"]
    if "data" in sent:
        data = sent["data"]
        request["content" if isinstance(data, bytes | str) else "data"] = data
    if sent.get("files"):
        request["files"] = sent["files"]
    return request


def _sent(request: dict[str, Any]) -> str:
    body = request.get("json", request.get("content", request.get("data", "")))
    return f"{request['method']} {request['url']} {request.get('params') or ''} {body!r}"[:BODY_EXCERPT]


def _findings(operation: str, response: httpx.Response, group: FailureGroup, sent: str) -> list[Finding]:
    body = response.text[:BODY_EXCERPT]
    return [
        Finding(operation, response.status_code, ", ".join(type(f).checks) or f.title, f.title, body, sent)
        for f in group.exceptions
    ]


def _fuzz(
    operation: Any,
    strategy: st.SearchStrategy[schemathesis.Case[Any]],
    send: Callable[[dict[str, Any]], httpx.Response],
    *,
    examples: int,
    caller: Caller,
) -> tuple[int, list[Finding]]:
    """Runs up to `examples` generated requests of the operation (fewer when it has fewer distinct ones): how many
    were sent, and what failed."""
    findings: list[Finding] = []
    sent = 0

    @seed(zlib.crc32(f"{operation.label} {caller.name}".encode()))  # the same requests on every run
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def call(case: schemathesis.Case[Any]) -> None:
        nonlocal sent
        request = _request(case)
        sent += 1
        try:
            response = send(request)
        except Exception as error:  # the app raised: a server would answer 500
            findings.append(
                Finding(
                    operation.label, None, "not_a_server_error", "unhandled", repr(error)[:BODY_EXCERPT], _sent(request)
                )
            )
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=request["headers"])
        except FailureGroup as group:
            findings.extend(_findings(operation.label, response, group, _sent(request)))

    call()
    return sent, findings


def _strategy(
    operation: Any, headers: dict[str, str], known: dict[str, list[Any]]
) -> st.SearchStrategy[schemathesis.Case[Any]]:
    """Generated requests, valid by the document and not; where the path names what the seed made, half of them
    with its ids."""
    names = {p.name for p in operation.path_parameters}
    given_ids = {name: values for name, values in known.items() if name in names}
    choices = [dict(zip(given_ids, values, strict=True)) for values in _combinations(list(given_ids.values()))]
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        generated = operation.as_strategy(mode, headers=headers)
        if choices:
            seeded = [operation.as_strategy(mode, headers=headers, path_parameters=choice) for choice in choices]
            generated = st.one_of(generated, st.one_of(*seeded))
        strategies.append(generated)
    return st.one_of(*strategies)


def _combinations(values: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Each value of every parameter at least once, without the product of them all."""
    if not values:
        return []
    longest = max(len(v) for v in values)
    return [tuple(v[i % len(v)] for v in values) for i in range(longest)]


PAIRS = [(service, caller) for service, callers in CALLERS.items() for caller in callers]


@pytest.mark.parametrize(("service", "caller"), PAIRS, ids=[f"{s}-{c.name}" for s, c in PAIRS])
async def test_every_answer_is_documented_and_none_is_a_server_error(
    service: str, caller: Caller, tmp_path: Path, topic_root: str, redis_url: str
) -> None:
    started = time.monotonic()
    async with _seeded(service, tmp_path, topic_root, redis_url if service == "query" else "") as state:
        bus, client = state.bus, state.client
        assert bus.app is not None
        loop = asyncio.get_running_loop()

        def send(request: dict[str, Any]) -> httpx.Response:
            # From the fuzzing thread, on this loop: the app's clients (Redis, the broker) belong to it.
            return asyncio.run_coroutine_threadsafe(client.request(**request), loop).result()

        schema = schemathesis.openapi.from_dict(bus.app.openapi())
        served = served_operations(bus.app)
        headers = caller.headers(bus)

        def fuzz_all() -> tuple[list[str], int, list[Finding]]:
            labels: list[str] = []
            cases = 0
            findings: list[Finding] = []
            for result in schema.get_all_operations():
                assert isinstance(result, Ok), f"the OpenAPI document does not load: {result}"
                operation = result.ok()
                assert operation.label in served, f"{operation.label} is documented but no route serves it"
                if operation.label in NOT_FUZZED or not _serves(served[operation.label], caller):
                    continue
                labels.append(operation.label)
                examples = _examples(served[operation.label], CALLERS[service])
                strategy = _strategy(operation, headers, state.known)
                sent, found = _fuzz(operation, strategy, send, examples=examples, caller=caller)
                cases += sent
                findings += found
            return labels, cases, findings

        labels, cases, findings = await asyncio.to_thread(fuzz_all)
    elapsed = time.monotonic() - started
    print(f"{service} as {caller.name}: {len(labels)} operations, {cases} requests, {elapsed:.1f} s")
    assert labels, f"{caller.name} may call no operation of {service}"
    unique = list({(f.operation, f.status, f.check, f.detail): f for f in reversed(findings)}.values())[::-1]
    report = "\n".join(str(f) for f in unique[:40])
    assert not unique, f"{len(unique)} answers {service} does not document, to {caller.name}:\n{report}"


async def test_a_nul_character_is_refused_by_field_and_not_a_server_error_on_postgresql(
    tmp_path: Path, topic_root: str, postgres_server: PostgresServer
) -> None:
    """SQLite, which the fuzzing runs on, stores a NUL character; PostgreSQL refuses it, which was a 500 on any text
    field, path or query parameter. Every service refuses it at the edge with 422 naming the field."""
    url = postgres_server.create_database(f"fuzz_{topic_root}")
    async with (
        running("supervision", tmp_path=tmp_path, topic_root=topic_root, database_url=url) as bus,
        bus.http() as client,
    ):
        official = bus.token(Role.PROVINCE_OFFICIAL)
        answers = [
            await client.post("/complaints", json=complaint(text="考评员代考\x00，现场无人监考。")),
            await client.post("/complaints", json=complaint(contact={"name": "王\x00", "phone": "13800000000"})),
            await client.get("/experts", params={"q": "王\x00"}, headers=official),
            await client.get("/experts/33-E%00", headers=official),
        ]
    fields = [[e["field"] for e in answer.json()["detail"]] for answer in answers]
    assert [answer.status_code for answer in answers] == [422] * 4, fields
    assert fields == [["text"], ["contact.name"], ["q"], ["expert_id"]]
    assert {e["reason"] for answer in answers for e in answer.json()["detail"]} == {NUL_REASON}
