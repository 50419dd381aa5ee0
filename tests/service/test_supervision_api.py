"""Supervision's HTTP API as schemathesis sees it (an implementation nobody here wrote): whatever it sends that
the OpenAPI document allows, or not, the answer is never a server error.

The service runs on SQLite without its lifespan (no broker: /readyz answers 503, correctly, and is left out),
with a pool, a filed organization and an approved batch in it, so the routes reach the service, not only
the validation. Each operation gets a bounded number of generated requests, as a province official and as
an inspector.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok

from shared.platform.auth import Role, TokenVerifier, ensure_dev_keys, mint_token
from tests.service import samples
from tests.service.conftest import ServiceBus, running

EXAMPLES_PER_OPERATION = 20
NOT_FUZZED = {"GET /readyz"}  # 503 without a broker is its answer


@pytest.fixture
async def prepared(tmp_path: Path, topic_root: str) -> AsyncIterator[ServiceBus]:
    async with running("supervision", tmp_path=tmp_path, topic_root=topic_root) as bus:
        await bus.deliver(samples.envelope(samples.organization_filed()))
        await bus.deliver(samples.envelope(samples.batch_plan()))
        yield bus


@contextlib.asynccontextmanager
async def _no_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def served(bus: ServiceBus) -> FastAPI:
    """The app with the province's token check and no lifespan (which would need the broker)."""
    app = bus.app
    assert app is not None
    settings_ = bus.runtime.settings
    ensure_dev_keys(settings_.keys_dir, settings_.province)
    app.state.token_verifier = TokenVerifier.load(settings_.keys_dir, settings_.province)
    app.router.lifespan_context = _no_lifespan
    return app


@pytest.mark.parametrize("role", [Role.PROVINCE_OFFICIAL, Role.INSPECTOR])
def test_no_request_gets_a_server_error(prepared: ServiceBus, role: Role) -> None:
    app = served(prepared)
    settings_ = prepared.runtime.settings
    token = mint_token(settings_.keys_dir, province=settings_.province, role=role, subject="33-E000001")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    errors: list[tuple[str, int, Any]] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document does not load: {result}"
        operation = result.ok()
        if operation.label in NOT_FUZZED:
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            suppress_health_check=list(HealthCheck),
            deadline=None,
            database=None,
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                errors.append((case.operation.label, response.status_code, case.body))

        call()
    assert errors == []
