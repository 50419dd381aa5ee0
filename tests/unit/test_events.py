"""Event contracts: topic scheme, cross-province patterns (also mirrored), envelope validation."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError
from sqlmodel import Session, SQLModel, create_engine, select

from shared.kernel.events import (
    BATCH_RESULTS_APPROVED,
    CERTIFICATE_ISSUED,
    ORGANIZATION_FILED,
    EventTypeMismatch,
    dead_letter_topic,
)
from shared.platform.outbox import OutboxEvent, emit


def test_topics_are_owned_by_a_province() -> None:
    assert CERTIFICATE_ISSUED.topic("33") == "skillcert.33.certificates.certificate-issued"
    assert ORGANIZATION_FILED.topic("32", "staging") == "staging.32.registry.organization-filed"
    assert dead_letter_topic("33", "query") == "skillcert.33.query.dead-lettered"


@pytest.mark.parametrize(
    ("topic", "matches"),
    [
        ("skillcert.33.certificates.certificate-issued", True),
        ("skillcert.31.certificates.certificate-issued", True),
        ("zj.skillcert.33.certificates.certificate-issued", True),  # MirrorMaker 2 DefaultReplicationPolicy
        ("skillcert.33.recognition.batch-results-approved", False),
        ("other.33.certificates.certificate-issued", False),
        ("skillcert.333.certificates.certificate-issued", False),
        ("skillcert.33.certificates.certificate-issued.extra", False),
    ],
)
def test_shared_consumer_pattern(topic: str, matches: bool) -> None:
    assert bool(re.match(CERTIFICATE_ISSUED.pattern(), topic)) is matches


def approved_payload() -> dict[str, object]:
    return {
        "batch_id": "b1",
        "organization_code": "S000033000001",
        "organization_name": "中心",
        "occupation_code": "6-18-01-01",
        "occupation_name": "车工",
        "level": 4,
        "approved_on": "2026-11-22",
        "passed": [{"candidate_id": "c1", "name": "张伟", "id_type": "居民身份证", "id_number": "11010519491231002X"}],
    }


def test_envelope_round_trip() -> None:
    payload = BATCH_RESULTS_APPROVED.payload.model_validate(approved_payload())
    event = BATCH_RESULTS_APPROVED.make(province="33", subject="b1", payload=payload)
    parsed = BATCH_RESULTS_APPROVED.parse(event.model_dump_json())
    assert parsed == event
    assert parsed.type == "recognition.batch-results-approved"
    assert parsed.payload.passed[0].name == "张伟"


def test_parse_refuses_another_event_type_and_bad_payloads() -> None:
    payload = BATCH_RESULTS_APPROVED.payload.model_validate(approved_payload())
    other = BATCH_RESULTS_APPROVED.make(province="33", subject="b1", payload=payload)
    renamed = other.model_dump_json().replace("batch-results-approved", "batch-results-returned")
    with pytest.raises(EventTypeMismatch):
        BATCH_RESULTS_APPROVED.parse(renamed)
    broken = other.model_dump_json().replace('"level":4', '"level":9')
    with pytest.raises(ValidationError, match="level"):
        BATCH_RESULTS_APPROVED.parse(broken)
    with pytest.raises(ValidationError):
        BATCH_RESULTS_APPROVED.parse(b"not json")


def test_certificate_numbers_travel_only_in_their_canonical_form() -> None:
    # The public lookup finds a number as typed and parses only one it does not find (services/query/views.py).
    issued = {
        "certificate_number": "S000033000001264000001",
        "holder_name": "张伟",
        "id_type": "resident_id",
        "id_number": "330106199001010011",
        "occupation_code": "6-18-01-01",
        "occupation_name": "车工",
        "level": 4,
        "level_title": "四级/中级工",
        "organization_code": "S000033000001",
        "organization_name": "中心",
        "province": "33",
        "issued_on": "2026-06-01",
        "batch_id": "b1",
    }
    assert CERTIFICATE_ISSUED.payload.model_validate(issued).certificate_number == "S000033000001264000001"
    for written in ("s000033000001264000001", " S000033000001264000001", "S000033000001264000000"):
        with pytest.raises(ValidationError, match="certificate_number"):
            CERTIFICATE_ISSUED.payload.model_validate({**issued, "certificate_number": written})


def test_a_provinces_approvals_share_one_key_so_a_replay_numbers_them_in_the_same_order() -> None:
    """Certificates numbers approvals in the order it reads them; one key keeps them on one partition, in the order
    they were approved, also when a restored province reads the log again (infra/backup.py)."""
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine, tables=[OutboxEvent.__table__])  # type: ignore[attr-defined]
    payload = BATCH_RESULTS_APPROVED.payload.model_validate(approved_payload())
    with Session(engine) as session:
        for batch in ("b1", "b2", "b3"):
            emit(session, BATCH_RESULTS_APPROVED, province="33", subject=batch, payload=payload)
        session.flush()
        rows = session.exec(select(OutboxEvent)).all()
    assert [row.key for row in rows] == ["33", "33", "33"]
    assert [BATCH_RESULTS_APPROVED.parse(row.body).subject for row in rows] == ["b1", "b2", "b3"]
    assert CERTIFICATE_ISSUED.key(province="33", subject="S00003300000126412345") == "S00003300000126412345"
