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
    assert published == DEFAULT_PORTS
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


def test_the_committed_asyncapi_documents_are_what_the_services_declare() -> None:
    """docs/asyncapi/ is generated (`make asyncapi`): a changed topic, payload or consumer must be regenerated."""
    import json

    from infra.asyncapi import DOCS, service_apps
    from shared.platform.app import asyncapi_json

    for name, app in service_apps().items():
        committed = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
        assert json.loads(asyncapi_json(app.state.runtime)) == committed, f"run make asyncapi: {name} changed"
