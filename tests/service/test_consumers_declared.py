"""The consumers declared in code are the ones documented: each service consumes each contract once, and the
topics table of docs/events.md names, for each event, the services that consume it and from where (the same
province, or every province)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from shared.kernel.events import ALL_CONTRACTS
from tests.service.conftest import CONSUMERS

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
SCOPES = {"same": False, "every": True}  # "(same province)" / "(every province ...)": all_provinces

Consumers = dict[str, set[tuple[str, bool]]]  # event type: {(service, all_provinces)}


@pytest.mark.parametrize("service", CONSUMERS)
def test_each_service_consumes_each_contract_once(service: str) -> None:
    types = Counter(contract.type for contract in CONSUMERS[service].contracts)
    assert [t for t, n in types.items() if n > 1] == []
    known = {contract.type for contract in ALL_CONTRACTS}
    assert set(types) <= known, f"{service} consumes contracts outside ALL_CONTRACTS"


def declared() -> Consumers:
    table: Consumers = {contract.type: set() for contract in ALL_CONTRACTS}
    for service, consumer in CONSUMERS.items():
        for handling in consumer.handlings:
            table[handling.contract.type].add((service, handling.all_provinces))
    return table


def documented() -> Consumers:
    """Reads the `| topic | producer | consumers | key |` table: consumers as `a, b (same province); c (every
    province: why)`."""
    table: Consumers = {}
    rows = re.findall(r"^\| `[a-z]+\.<p>\.([a-z-]+)\.([a-z-]+)` \| [a-z ]+ \| ([^|]+) \|", EVENTS_DOC.read_text(), re.M)
    assert rows, "docs/events.md has no topics table in the expected form"
    services = set(CONSUMERS)
    for producer, name, consumers in rows:
        if name == "dead-lettered":
            continue
        entries: set[tuple[str, bool]] = set()
        for group in consumers.split(";"):
            match = re.fullmatch(r"\s*([a-z, ]+?)\s*\((same|every) province[^)]*\).*", group)
            assert match, f"docs/events.md, {producer}.{name}: cannot read the consumers {group.strip()!r}"
            names = {n.strip() for n in match.group(1).split(",")}
            assert names <= services, f"docs/events.md, {producer}.{name}: unknown consumers {names - services}"
            entries |= {(n, SCOPES[match.group(2)]) for n in names}
        table[f"{producer}.{name}"] = entries
    return table


def where(all_provinces: bool) -> str:
    return "every province" if all_provinces else "same province"


def test_docs_list_the_consumers_declared_in_code() -> None:
    code, docs = declared(), documented()
    problems = []
    for event_type in sorted(code.keys() | docs.keys()):
        if event_type not in docs:
            problems.append(f"{event_type}: no row in the topics table of docs/events.md")
            continue
        in_code, in_docs = code.get(event_type, set()), docs[event_type]
        for service, all_provinces in sorted(in_code - in_docs):
            problems.append(
                f"{event_type}: {service} consumes it ({where(all_provinces)}) in services/{service}/flows.py, "
                "docs/events.md does not say so"
            )
        for service, all_provinces in sorted(in_docs - in_code):
            problems.append(
                f"{event_type}: docs/events.md lists {service} ({where(all_provinces)}), "
                f"services/{service}/flows.py declares no such consumer"
            )
    assert not problems, "docs/events.md and the declared consumers differ:\n" + "\n".join(problems)
