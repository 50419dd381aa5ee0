"""What the registry takes from supervision besides sanctions and panels (services/registry/flows.py): the credit
record, checked when an organization applies, registers or is filed [L6(一) 社会信用良好,无违法违规、失信等不良行为
记录; G二(一)1], and the star ratings shown in the public catalogue [Z五(五)].

Entries are dated around the service's date (`registry.runtime.clock.today()`), so the tests do not depend on the
day they run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from infra.migrations import alembic_config
from infra.walkthrough import credit_code, filed_organization, organization_application, resident_id
from services.registry.models import CatalogueRating, CreditRecordEntry, Organization, OrganizationStatus
from services.registry.rules import CreditSubject, credit_errors
from shared.kernel.events import (
    CREDIT_ENTRY_RECORDED,
    ORGANIZATION_RATED,
    CreditEntryRecorded,
    Envelope,
    OrganizationRated,
    RatedIndicator,
)
from shared.kernel.identity import RESIDENT_ID_CARD
from shared.platform.outbox import OutboxEvent
from tests.service import samples
from tests.service.conftest import ServiceBus
from tests.service.test_registry_panels import DRAWN, assess, dispatched

# The consumer's handlers this file tests (tests/service/test_registry_handlers.py checks all are tested).
TESTED = {CREDIT_ENTRY_RECORDED.type, ORGANIZATION_RATED.type}

APPLICANT = credit_code("33", 1)  # organization_application("33", 1) and under_review(registry, 1)
REPRESENTATIVE = resident_id("33", 77)


def today(registry: ServiceBus) -> date:
    return registry.runtime.clock.today()


def entry(
    entry_id: str = "33-CR000001",
    *,
    on: date,
    kind: str = "organization",
    severity: str = "serious",
    credit: str | None = APPLICANT,
    filing_code: str | None = None,
    id_type: str | None = None,
    id_number: str | None = None,
    starts: int = -30,
    ends: int = 365,
    withdrawn: bool = False,
) -> CreditEntryRecorded:
    """An entry of the credit record beginning `starts` and ending `ends` days from `on`."""
    return CreditEntryRecorded(
        entry_id=entry_id,
        subject_kind=kind,
        name="王建国" if kind == "person" else "杭州市机械行业协会技能评价中心1号",
        credit_code=credit if kind == "organization" else None,
        filing_code=filing_code,
        id_type=id_type,
        id_number=id_number,
        severity=severity,
        source="sanction",
        source_ref="33-C000001",
        reason="伪造考评记录",
        article="L28",
        starts_on=on + timedelta(days=starts),
        ends_on=on + timedelta(days=ends),
        withdrawn=withdrawn,
    )


def recorded(payload: CreditEntryRecorded, *, at: datetime | None = None) -> Envelope[CreditEntryRecorded]:
    """As supervision sends it: keyed by entry id; `at` is when it was sent."""
    event = CREDIT_ENTRY_RECORDED.make(province=samples.PROVINCE, subject=payload.entry_id, payload=payload)
    return event.model_copy(update={"occurred_at": at}) if at else event


def rated(code: str, year: int, stars: int, score: int) -> Envelope[OrganizationRated]:
    payload = OrganizationRated(
        filing_code=code,
        organization_name="杭州市机械行业协会技能评价中心1号",
        year=year,
        stars=stars,
        score=score,
        draw_weight=1,
        indicators=[RatedIndicator(code="finding_minor", title="一般问题", count=(100 - score) // 5, points=5)],
        rated_on=date(year + 1, 1, 15),
    )
    return ORGANIZATION_RATED.make(province=samples.PROVINCE, subject=code, payload=payload)


def serious(entry_id: str, ends_on: date) -> str:
    return f"serious credit entry {entry_id} active until {ends_on} [L6(一)]"


async def post(registry: ServiceBus, path: str, body: dict[str, Any] | None = None) -> Any:
    async with registry.http() as client:
        return await client.post(path, json=body, headers=registry.token("province_official"))


async def get(registry: ServiceBus, path: str) -> Any:
    async with registry.http() as client:
        return await client.get(path)


def refusals(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(e["field"], e["reason"]) for e in response.json()["detail"]]


# --- the credit record ------------------------------------------------------------------------------------


async def test_a_credit_entry_is_kept_whole_and_its_latest_version_replaces_it(registry: ServiceBus) -> None:
    day = today(registry)
    sent = datetime.now(UTC)
    first = recorded(entry(on=day, credit=APPLICANT.lower()), at=sent)
    await registry.deliver(first)
    await registry.deliver(first)  # delivered again: applied once
    [row] = registry.rows(CreditRecordEntry)
    assert (row.entry_id, row.credit_code, row.severity, row.withdrawn) == ("33-CR000001", APPLICANT, "serious", False)
    assert row.ends_on == day + timedelta(days=365)
    assert registry.processed() == 1

    # Corrected to end early, then withdrawn as wrong: each version is the whole entry.
    await registry.deliver(recorded(entry(on=day, ends=10), at=sent + timedelta(minutes=1)))
    assert registry.rows(CreditRecordEntry)[0].ends_on == day + timedelta(days=10)
    await registry.deliver(recorded(entry(on=day, ends=10, withdrawn=True), at=sent + timedelta(minutes=2)))
    # A version older than the one kept, arriving late, changes nothing.
    await registry.deliver(recorded(entry(on=day), at=sent + timedelta(seconds=30)))
    [row] = registry.rows(CreditRecordEntry)
    assert (row.withdrawn, row.ends_on) == (True, day + timedelta(days=10))
    assert registry.processed() == 4


async def test_an_applicant_with_a_serious_entry_active_today_is_refused_with_every_other_error(
    registry: ServiceBus,
) -> None:
    day = today(registry)
    await registry.deliver(recorded(entry(on=day)))
    await registry.deliver(recorded(entry("33-CR000002", on=day, ends=30)))
    await registry.deliver(recorded(entry("33-CR000009", on=day, credit=credit_code("33", 2))))  # another's
    response = await post(registry, "/applications", organization_application("33", 1, full_time_staff=1))
    [staff, *credit] = refusals(response)
    assert staff[0] == "full_time_staff" and staff[1].startswith("at least 3 full-time staff, not 1")
    assert credit == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(days=365))),
        ("credit_code", "the organization has a " + serious("33-CR000002", day + timedelta(days=30))),
    ]
    assert registry.count(Organization) == 0
    assert registry.count(OutboxEvent) == 0


@pytest.mark.parametrize(
    "counts_for_nothing",
    [
        {"severity": "general"},
        {"withdrawn": True},
        {"starts": 1},  # not begun yet
        {"starts": -400, "ends": 0},  # ended today: starts_on <= today < ends_on
        {"credit": credit_code("33", 2)},  # another organization's
        {"kind": "person", "id_number": resident_id("33", 1)},  # a person: not the applicant
    ],
    ids=["general", "withdrawn", "not-begun", "ended-today", "another-organization", "a-person"],
)
async def test_entries_that_are_not_serious_and_active_today_count_for_nothing(
    registry: ServiceBus, counts_for_nothing: dict[str, Any]
) -> None:
    day = today(registry)
    await registry.deliver(recorded(entry(on=day, **counts_for_nothing)))
    response = await post(registry, "/applications", organization_application("33", 1))
    assert response.status_code == 201, response.text

    # The same entry made serious and active today (its latest version is the whole entry) refuses the next one.
    await registry.deliver(recorded(entry(on=day)))
    again = await post(registry, "/applications", organization_application("33", 1))
    assert refusals(again) == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(365)))
    ]


async def test_an_entry_that_began_today_counts(registry: ServiceBus) -> None:
    day = today(registry)
    await registry.deliver(recorded(entry(on=day, starts=0, ends=1)))
    response = await post(registry, "/applications", organization_application("33", 1))
    assert refusals(response) == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(1)))
    ]


async def test_a_legal_representative_with_a_serious_entry_is_refused_and_the_id_number_never_shown(
    registry: ServiceBus,
) -> None:
    day = today(registry)
    person = entry(on=day, kind="person", id_type=None, id_number=REPRESENTATIVE.lower())  # no type: resident ID
    await registry.deliver(recorded(person))
    given = {"legal_representative_id_number": REPRESENTATIVE}

    response = await post(registry, "/applications", organization_application("33", 1, **given))
    assert refusals(response) == [
        (
            "legal_representative_id_number",
            "the legal representative has a " + serious("33-CR000001", day + timedelta(days=365)),
        )
    ]
    assert REPRESENTATIVE not in response.text and REPRESENTATIVE.lower() not in response.text
    assert registry.count(Organization) == 0

    # The name alone is not looked up; the same number under another ID type is another person.
    assert (await post(registry, "/applications", organization_application("33", 1))).status_code == 201
    passport = {"legal_representative_id_type": "护照", **given}
    accepted = await post(registry, "/applications", organization_application("33", 2, **passport))
    assert accepted.status_code == 201, accepted.text
    assert REPRESENTATIVE not in accepted.text  # the application shown never carries it
    [kept] = registry.rows(Organization, Organization.credit_code == credit_code("33", 2))
    assert (kept.legal_representative_id_type, kept.legal_representative_id_number) == ("护照", REPRESENTATIVE)


async def test_an_invalid_id_number_of_the_legal_representative_is_refused_without_echoing_it(
    registry: ServiceBus,
) -> None:
    wrong = REPRESENTATIVE[:-1] + ("1" if REPRESENTATIVE[-1] != "1" else "2")  # a wrong check digit
    response = await post(
        registry, "/applications", organization_application("33", 1, legal_representative_id_number=wrong)
    )
    [(field, reason)] = refusals(response)
    assert field == "legal_representative_id_number"
    assert "not a valid resident identity card number" in reason
    assert wrong not in response.text


async def test_an_organization_registered_as_filed_before_the_system_is_checked_too(registry: ServiceBus) -> None:
    day = today(registry)
    await registry.deliver(recorded(entry(on=day)))
    response = await post(registry, "/organizations", filed_organization("33", 1))
    assert refusals(response) == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(365)))
    ]
    assert registry.count(Organization) == 0
    assert registry.count(OutboxEvent) == 0


async def test_an_entry_under_a_filing_code_held_here_counts_against_the_organizations_credit_code(
    registry: ServiceBus,
) -> None:
    """An entry that names only the filing code (no credit code) counts when that organization applies again."""
    day = today(registry)
    filed = await post(registry, "/organizations", filed_organization("33", 1))
    code = filed.json()["filing_code"]
    await registry.deliver(recorded(entry(on=day, credit=None, filing_code=code.lower())))
    again = await post(registry, "/applications", organization_application("33", 1))
    assert refusals(again) == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(365)))
    ]


async def in_publicity_ended(registry: ServiceBus, **changes: Any) -> int:
    """An application (with `changes`) through review, its publicity over (published today, then moved back 30
    days as if the service's clock had gone on): it may be filed. The sample is a province-level body: the
    province selects it and does every step [L5]."""
    city = registry.token("province_official")
    submitted = await post(registry, "/applications", organization_application("33", 1, **changes))
    assert submitted.status_code == 201, submitted.text
    application_id = int(submitted.json()["id"])
    async with registry.http() as client:
        assert (await client.post(f"/applications/{application_id}/accept", headers=city)).status_code == 200
        passed = await client.post(
            f"/applications/{application_id}/preliminary-review", json={"passed": True}, headers=city
        )
        assert passed.status_code == 200, passed.text
    await registry.deliver(samples.envelope(dispatched(application_id)))
    assert (await assess(registry, application_id, DRAWN)).status_code == 200
    published_on = today(registry).isoformat()
    response = await post(registry, f"/applications/{application_id}/publicity", {"published_on": published_on})
    assert response.json()["status"] == OrganizationStatus.IN_PUBLICITY.value, response.text
    with registry.unit() as unit:
        organization = unit.session.get(Organization, application_id)
        assert organization is not None
        organization.publicity_from = today(registry) - timedelta(days=30)
        organization.publicity_until = today(registry) - timedelta(days=22)
        unit.session.add(organization)
    return application_id


async def test_an_entry_recorded_since_the_submission_stops_the_filing(registry: ServiceBus) -> None:
    day = today(registry)
    application_id = await in_publicity_ended(registry)
    await registry.deliver(recorded(entry(on=day, starts=0, ends=100)))

    refused = await post(registry, f"/applications/{application_id}/file")
    assert refusals(refused) == [
        ("credit_code", "the organization has a " + serious("33-CR000001", day + timedelta(100)))
    ]
    [organization] = registry.rows(Organization, Organization.id == application_id)
    assert (organization.status, organization.filing_code) == (OrganizationStatus.IN_PUBLICITY, None)

    # Withdrawn as wrong: the filing goes ahead.
    await registry.deliver(recorded(entry(on=day, starts=0, ends=100, withdrawn=True)))
    filed = await post(registry, f"/applications/{application_id}/file")
    assert filed.status_code == 200, filed.text
    assert filed.json()["status"] == OrganizationStatus.FILED.value


async def test_an_entry_of_the_legal_representative_recorded_since_the_submission_stops_the_filing(
    registry: ServiceBus,
) -> None:
    day = today(registry)
    application_id = await in_publicity_ended(registry, legal_representative_id_number=REPRESENTATIVE)
    await registry.deliver(recorded(entry(on=day, kind="person", id_type=RESIDENT_ID_CARD, id_number=REPRESENTATIVE)))
    refused = await post(registry, f"/applications/{application_id}/file")
    assert refusals(refused) == [
        (
            "legal_representative_id_number",
            "the legal representative has a " + serious("33-CR000001", day + timedelta(365)),
        )
    ]
    assert REPRESENTATIVE not in refused.text


def test_every_serious_active_entry_is_reported_at_once_oldest_first() -> None:
    day = date(2026, 12, 1)

    def row(entry_id: str, **changes: Any) -> CreditRecordEntry:
        values = {**entry(entry_id, on=day).model_dump(), "recorded_at": datetime.now(UTC), **changes}
        return CreditRecordEntry.model_validate(values)

    subject = CreditSubject(APPLICANT, frozenset({"S000033000009"}), RESIDENT_ID_CARD, REPRESENTATIVE)
    entries = [
        row("B", starts_on=date(2026, 6, 1)),
        row("A", starts_on=date(2025, 6, 1)),
        row("P", subject_kind="person", credit_code=None, id_type=RESIDENT_ID_CARD, id_number=REPRESENTATIVE),
        row("F", credit_code=None, filing_code="S000033000009"),
        row("G", severity="general"),
        row("W", withdrawn=True),
        row("E", ends_on=day),
    ]
    found = [(e.field, e.reason.split()[-5]) for e in credit_errors(entries, subject, today=day)]
    assert found == [
        ("credit_code", "A"),
        ("credit_code", "B"),
        ("credit_code", "F"),
        ("legal_representative_id_number", "P"),
    ]
    without_id = CreditSubject(APPLICANT)
    assert [e.field for e in credit_errors(entries, without_id, today=day)] == ["credit_code", "credit_code"]


def test_organizations_before_the_credit_record_get_a_resident_id_type_and_no_number(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    config = alembic_config("registry", url)
    command.upgrade(config, "510113f8c15f")  # before the credit record
    engine = create_engine(url)
    application = organization_application("33", 1)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organization (name, credit_code, kind, evaluation_scope, city, address, "
                "legal_representative, registered_capital_10k_yuan, contact_name, contact_phone, "
                "years_of_evaluation, full_time_staff, examiners, quality_supervisors, org_type, national_code, "
                "province, status, scope, sites, materials, main_business_occupations, majors, "
                "self_evaluation_scope, submitted_on, acceptance_due_on, created_at) VALUES "
                "(:name, :credit_code, 'INDUSTRY_ORGANIZATION', 'PROVINCE', :city, :address, '王建国', 500, '李明', "
                "'0571-88886666', 6, 5, 20, 4, 'S', '0000', '33', 'SUBMITTED', '[]', '[]', '[]', '[]', '[]', '[]', "
                "'2026-01-05', '2026-01-19', '2026-01-05 00:00:00')"
            ),
            {key: application[key] for key in ("name", "credit_code", "city", "address")},
        )
    command.upgrade(config, "head")
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT legal_representative_id_type, legal_representative_id_number FROM organization")
        ).one()
    engine.dispose()
    assert tuple(found) == (RESIDENT_ID_CARD, None)


# --- star ratings in the catalogue --------------------------------------------------------------------------


async def test_the_latest_rating_is_shown_in_the_catalogue_and_an_older_year_is_ignored(registry: ServiceBus) -> None:
    filed = await post(registry, "/organizations", filed_organization("33", 1))
    code = filed.json()["filing_code"]
    other = (await post(registry, "/organizations", filed_organization("33", 2))).json()["filing_code"]

    async def shown() -> tuple[Any, Any, Any]:
        listed = {o["filing_code"]: o["rating"] for o in (await get(registry, "/organizations")).json()["data"]}
        one = (await get(registry, f"/organizations/{code}")).json()["rating"]
        return listed[code], one, listed[other]

    assert await shown() == (None, None, None)  # not rated yet

    first = rated(code, 2026, 4, 85)
    await registry.deliver(first)
    await registry.deliver(first)  # delivered again: applied once
    rating = {"year": 2026, "stars": 4, "score": 85}
    assert await shown() == (rating, rating, None)

    await registry.deliver(rated(code, 2025, 2, 55))  # an earlier year: ignored
    assert await shown() == (rating, rating, None)

    await registry.deliver(rated(code, 2026, 3, 75))  # the same year again: a correction replaces it
    await registry.deliver(rated(code, 2027, 5, 100))
    assert await shown() == ({"year": 2027, "stars": 5, "score": 100},) * 2 + (None,)
    [row] = registry.rows(CatalogueRating)
    assert (row.filing_code, row.year, row.rated_on) == (code, 2027, date(2028, 1, 15))
    assert registry.processed() == 4
