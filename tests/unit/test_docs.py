"""docs/events.md stays true: every event contract, its topic and each payload field are documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.kernel.events import ALL_CONTRACTS, EventContract

EVENTS_DOC = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()


@pytest.mark.parametrize("contract", ALL_CONTRACTS, ids=lambda c: c.type)
def test_every_event_and_field_is_documented(contract: EventContract) -> None:  # type: ignore[type-arg]
    assert f"### `{contract.type}`" in EVENTS_DOC
    assert contract.topic("<p>") in EVENTS_DOC
    section = EVENTS_DOC.split(f"### `{contract.type}`", 1)[1].split("\n### ", 1)[0]
    for field in contract.payload.model_fields:
        assert f"`{field}`" in section, f"{contract.type}: field {field} is not in docs/events.md"


def test_docker_compose_matches_the_local_launcher() -> None:
    """docker-compose.yml cannot run here (no Docker engine); at least its services and ports match make up."""
    import json

    import yaml

    from infra.stack import DEFAULT_PORTS, PROVINCES

    compose = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    published = {
        name: int(service["ports"][0].split(":")[0])
        for name, service in compose["services"].items()
        if "ports" in service
    }
    # The public query is published through its reverse proxy only, on the query's port.
    assert "query" not in published
    assert published.pop("query-proxy") == DEFAULT_PORTS["query"]
    assert published == {name: port for name, port in DEFAULT_PORTS.items() if name != "query"}
    for name in DEFAULT_PORTS:
        environment = compose["services"][name]["environment"]
        service = environment["SERVICE"]
        prefix = service.upper() + "_"
        assert environment[prefix + "KAFKA_BOOTSTRAP"] == "kafka:9092"
        if service != "query":
            assert environment[prefix + "PROVINCE"] == name.rsplit("-", 1)[1]
    # The query service forwards each province's complaints to that province's supervision, as make up has it.
    forwarded = json.loads(compose["services"]["query"]["environment"]["QUERY_SUPERVISION_URLS"])
    assert forwarded == {province: f"http://supervision-{province}:8000" for province in PROVINCES}


def test_docker_compose_trusts_x_forwarded_for_from_the_query_proxy_only() -> None:
    """Fair use counts the client X-Forwarded-For names only when the request comes from the proxy's address: the
    proxy's fixed address and nothing else (no uvicorn FORWARDED_ALLOW_IPS, no network, no `*`)."""
    import ipaddress
    import json

    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    query, proxy = compose["services"]["query"], compose["services"]["query-proxy"]
    environment = {str(key): str(value) for key, value in query["environment"].items()}
    assert not any("FORWARDED_ALLOW_IPS" in key or "PROXY_HEADERS" in key for key in environment)
    [(network, address)] = [(name, entry["ipv4_address"]) for name, entry in proxy["networks"].items()]
    assert network in query["networks"]
    trusted = json.loads(environment["QUERY_TRUSTED_PROXIES"])
    assert trusted == [address] and ipaddress.ip_network(address).num_addresses == 1
    [mount] = proxy["volumes"]
    config = (root / mount.split(":")[0]).read_text()
    assert "proxy_pass http://query" in config and "$proxy_add_x_forwarded_for" in config
    # Its access log leaves the query string out; the image's uvicorn writes none and rewrites no client address.
    assert "$request " not in config and "$request_uri" not in config and "$args" not in config
    dockerfile = (root / "Dockerfile").read_text()
    assert "--no-access-log" in dockerfile and "--no-proxy-headers" in dockerfile
    assert "--proxy-headers" not in dockerfile.replace("--no-proxy-headers", "")


def test_the_committed_asyncapi_documents_are_what_the_services_declare() -> None:
    """docs/asyncapi/ is generated (`make asyncapi`): a changed topic, payload or consumer must be regenerated."""
    import json

    from infra.asyncapi import DOCS, service_apps
    from shared.platform.app import asyncapi_json

    for name, app in service_apps().items():
        committed = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
        assert json.loads(asyncapi_json(app.state.runtime)) == committed, f"run make asyncapi: {name} changed"
