"""Each service's OpenAPI document names the errors each route answers, in the shape it really sends them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import ServiceBus, running

METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _schema_of(document: dict[str, Any], operation: dict[str, Any], code: int) -> dict[str, Any]:
    reference = operation["responses"][str(code)]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return schema


@pytest.mark.parametrize("service", ["registry", "recognition", "certificates", "supervision", "query"])
async def test_every_route_documents_its_errors_with_the_body_it_sends(
    service: str, tmp_path: Any, topic_root: str, redis_url: str
) -> None:
    async with (
        running(service, tmp_path=tmp_path, topic_root=topic_root, redis_url=redis_url) as bus,
        bus.http() as client,
    ):
        document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in str(document), "FastAPI's {loc, msg, type} shape is not what we send"
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        codes = {int(code) for code in operation["responses"] if code.isdigit()}
        if operation.get("security"):
            assert {401, 403} <= codes, where
            assert _schema_of(document, operation, 401)["required"] == ["detail"], where
        if "{" in path:
            assert 404 in codes, where
        if method != "get":
            assert 409 in codes, where
        if operation.get("parameters") or operation.get("requestBody"):
            field_errors = _schema_of(document, operation, 422)
            assert set(field_errors["properties"]["detail"]["items"]["required"]) == {"field", "reason"}, where
        if service == "query" and "health" not in operation.get("tags", []):
            assert 429 in codes, where


async def test_a_refused_body_is_what_the_document_says(registry: ServiceBus) -> None:
    async with registry.http() as client:
        document = (await client.get("/openapi.json")).json()
        answer = await client.post("/applications", json={"name": ""}, headers=registry.token("org_operator", "x"))
    operation = document["paths"]["/applications"]["post"]
    assert answer.status_code == 422
    shape = _schema_of(document, operation, 422)["properties"]["detail"]["items"]["required"]
    assert answer.json()["detail"] and all(set(shape) <= set(error) for error in answer.json()["detail"])
