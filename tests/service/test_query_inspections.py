"""What the query service publishes of supervision (一公开 [L27, Z四(五)]): every province's inspection plans with
their draws, exactly as the offline verifier reads them, inspection results in summary and star ratings on the
catalogue; and what it keeps out of the public read model (a batch plan's staff, complaints' tracking codes).
Consumers through FastStream's TestKafkaBroker, routes over ASGI, the test Redis underneath."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.query import flows
from services.query.models import InspectionPlanSummary, InspectionSummary, RatingView
from services.query.store import CertificateStore
from shared.kernel.events import (
    DRAW_MADE,
    INSPECTION_PLAN_PUBLISHED,
    INSPECTION_RECORDED,
    ORGANIZATION_RATED,
    DispatchedExpert,
    DrawnTarget,
    DrawRefusal,
    Envelope,
    InspectionFinding,
    InspectionSignature,
    OrganizationRated,
    RatedIndicator,
)
from tests.service import samples
from tests.service.conftest import ServiceBus

TESTED = {INSPECTION_PLAN_PUBLISHED.type, DRAW_MADE.type, INSPECTION_RECORDED.type, ORGANIZATION_RATED.type}
OTHER = "32"
PLAN = "33-P000001"
SENT = datetime(2026, 4, 9, 2, 0, tzinfo=UTC)


def test_every_query_handler_is_tested_here_or_in_test_query_handlers() -> None:
    from tests.service.test_query_handlers import TESTED as TESTED_THERE  # which imports this module

    assert not TESTED & TESTED_THERE
    assert {contract.type for contract in flows.consumer.contracts} == TESTED | TESTED_THERE


def store_of(bus: ServiceBus) -> CertificateStore:
    assert bus.store is not None
    return bus.store


@contextlib.asynccontextmanager
async def public(bus: ServiceBus) -> AsyncIterator[httpx.AsyncClient]:
    """The query service's public routes over ASGI: no token, as anyone reaches them."""
    assert bus.app is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bus.app), base_url="http://test") as client:
        yield client


async def get(client: httpx.AsyncClient, url: str, status: int = 200, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == status, response.text
    return response.json()


def sent_at(envelope: Envelope[Any], at: datetime) -> Envelope[Any]:
    return envelope.model_copy(update={"occurred_at": at})


async def read_model_text(store: CertificateStore) -> str:
    """Everything this test's read model holds in Redis (keys, values, hash fields, set members), as one text."""
    values: list[bytes | str] = []
    async for key in store.redis.scan_iter(match=f"{store.prefix}*", count=1000):
        kind = text(await store.redis.type(key))
        if kind == "string":
            values.append(await store.redis.get(key) or b"")
        elif kind == "hash":
            for field, value in (await store.redis.hgetall(key)).items():
                values += [field, value]
        elif kind == "set":
            values += list(await store.redis.smembers(key))
        values.append(key)
    return "\n".join(text(value) for value in values)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def inspection(inspection_id: str, *, on: date, organization: str = samples.ORGANIZATION) -> Any:
    """A sealed inspection with evidence, a signature and an inspector's pool id: none of which is published."""
    base = samples.inspection_recorded(inspection_id)
    finding = InspectionFinding(
        item_code="plan",
        item_title="实施计划与现场一致",
        severity="major",
        description="考场座位与计划不符：考评员周某未到岗",
        public_summary="考场座位与计划不符",
        evidence=["e" * 64],
    )
    signature = InspectionSignature(
        signer="王督导", role="quality_supervisor", signed_at="2026-04-01T08:00:00Z", chain_hash="c" * 64
    )
    return base.model_copy(
        update={
            "organization_code": organization,
            "inspected_on": on,
            "sealed_on": on + timedelta(days=1),
            "inspectors": [DispatchedExpert(expert_id="33-E000777", name="王督导", province="33")],
            "findings": [finding],
            "signatures": [signature],
        }
    )


# --- plans and draws --------------------------------------------------------------------------------


async def test_a_published_plan_enters_the_plans_once_and_is_served_as_published(query: ServiceBus) -> None:
    event = samples.envelope(samples.plan_published(PLAN))
    await query.deliver(event)
    await query.deliver(event)
    await query.deliver(event, topic=f"zj.{query.topic(INSPECTION_PLAN_PUBLISHED)}")  # and its mirrored copy
    [entry] = await store_of(query).catalogue("inspection-plans")
    assert set(entry) == set(InspectionPlanSummary.model_fields)
    terms = event.payload.terms
    assert entry == {
        "province": "33",
        "plan_id": PLAN,
        "title": terms.title,
        "purpose": "inspection",
        "period_from": "2026-04-01",
        "period_to": "2026-06-30",
        "published_on": "2026-04-01",
        "entropy_source": terms.entropy_source,
        "entropy_expected_on": "2026-04-09",
        "population_size": 1,
    }
    async with public(query) as client:
        page = await get(client, "/inspection-plans")
        assert page["count"] == 1
        assert page["data"] == [{**entry, "drawn": False, "drawn_on": None, "drawn_targets": None}]
        documents = await get(client, f"/inspection-plans/33/{PLAN}")
        assert documents == {"plan": event.payload.model_dump(mode="json"), "draw": None}
        download = await client.get(f"/inspection-plans/33/{PLAN}/plan.json")
        assert download.status_code == 200
        assert download.headers["content-disposition"] == f'attachment; filename="{PLAN}.plan.json"'
        assert type(event.payload).model_validate_json(download.content) == event.payload
        assert (await client.get(f"/inspection-plans/33/{PLAN}/draw.json")).status_code == 404  # not drawn yet


async def test_a_draw_before_its_plan_is_kept_and_joined_when_the_plan_arrives(query: ServiceBus) -> None:
    draw = samples.envelope(samples.draw_made(PLAN))
    await query.deliver(draw)
    async with public(query) as client:
        assert (await get(client, "/inspection-plans"))["count"] == 0
        await get(client, f"/inspection-plans/33/{PLAN}", 404)  # the plan is not on record yet

        plan = samples.envelope(samples.plan_published(PLAN))
        await query.deliver(plan)
        [entry] = (await get(client, "/inspection-plans"))["data"]
        assert (entry["drawn"], entry["drawn_on"], entry["drawn_targets"]) == (True, "2026-04-09", 1)
        documents = await get(client, f"/inspection-plans/33/{PLAN}")
        assert documents == {"plan": plan.payload.model_dump(mode="json"), "draw": draw.payload.model_dump(mode="json")}
        download = await client.get(f"/inspection-plans/33/{PLAN}/draw.json")
        assert download.headers["content-disposition"] == f'attachment; filename="{PLAN}.draw.json"'
        assert type(draw.payload).model_validate_json(download.content) == draw.payload


async def test_a_re_sent_draw_replaces_the_older_and_an_older_copy_does_not_come_back(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(samples.plan_published(PLAN)))
    first = sent_at(samples.envelope(samples.draw_made(PLAN)), SENT)
    refusal = DrawRefusal(
        target_id=samples.BATCH,
        expert_id="33-E000001",
        ground="conflict_of_interest",
        reason="与被检查机构有利害关系",
        refused_on=date(2026, 4, 10),
        recorded_by="33-E000001",
        replaced_by="33-E000002",
    )
    again = first.payload.model_copy(
        update={"targets": [DrawnTarget(target_id=samples.BATCH, inspectors=["33-E000002"])], "refusals": [refusal]}
    )
    second = sent_at(samples.envelope(again), SENT + timedelta(days=1))
    await query.deliver(first)
    await query.deliver(second)
    async with public(query) as client:
        assert (await get(client, f"/inspection-plans/33/{PLAN}"))["draw"] == again.model_dump(mode="json")
        await query.deliver(first)  # delivered again later (a replay, a second copy of the topic)
        assert (await get(client, f"/inspection-plans/33/{PLAN}"))["draw"] == again.model_dump(mode="json")
        await query.deliver(second)  # the same draw again: still the same
        assert (await get(client, f"/inspection-plans/33/{PLAN}"))["draw"] == again.model_dump(mode="json")
    [draw] = await store_of(query).catalogue("draws")
    assert draw["sent_at"] == second.occurred_at.isoformat()


async def test_plans_of_two_provinces_with_one_id_are_apart_and_filtered(query: ServiceBus) -> None:
    ours = samples.envelope(samples.plan_published(PLAN))
    later = samples.plan_published(PLAN)
    theirs_payload = later.model_copy(
        update={
            "terms": later.terms.model_copy(
                update={"province": OTHER, "title": "江苏省专项抽查", "published_on": date(2026, 5, 1)}
            )
        }
    )
    theirs = samples.envelope(theirs_payload, province=OTHER)
    await query.deliver(ours)
    await query.deliver(theirs)
    await query.deliver(samples.envelope(samples.draw_made(PLAN), province=OTHER))
    async with public(query) as client:
        page = await get(client, "/inspection-plans")
        assert [(p["province"], p["drawn"]) for p in page["data"]] == [(OTHER, True), ("33", False)]  # newest first
        assert [p["province"] for p in (await get(client, "/inspection-plans", province="33"))["data"]] == ["33"]
        assert [p["title"] for p in (await get(client, "/inspection-plans", q="江苏"))["data"]] == ["江苏省专项抽查"]
        assert (await get(client, "/inspection-plans", q="p000001"))["count"] == 2  # the plan id, any case
        assert (await get(client, "/inspection-plans", offset=1, limit=1))["data"][0]["province"] == "33"
        ours_served = await get(client, f"/inspection-plans/33/{PLAN}")
        assert ours_served == {"plan": ours.payload.model_dump(mode="json"), "draw": None}
        assert (await get(client, f"/inspection-plans/{OTHER}/{PLAN}"))["draw"] is not None
        download = await client.get(f"/inspection-plans/{OTHER}/{PLAN}/plan.json")
        assert download.headers["content-disposition"] == f'attachment; filename="{OTHER}-{PLAN}.plan.json"'


# --- inspection results -----------------------------------------------------------------------------


async def test_an_inspection_is_published_once_in_summary_only(query: ServiceBus) -> None:
    recorded = inspection("33-I000001", on=date(2026, 4, 1))
    event = samples.envelope(recorded)
    await query.deliver(event)
    await query.deliver(event)
    [entry] = await store_of(query).catalogue("inspections")
    assert set(entry) == set(InspectionSummary.model_fields)
    assert entry == {
        "province": "33",
        "inspection_id": "33-I000001",
        "plan_id": PLAN,
        "batch_id": samples.BATCH,
        "organization_code": samples.ORGANIZATION,
        "organization_name": recorded.organization_name,
        "inspected_on": "2026-04-01",
        "inspectors": ["王督导"],
        "items_checked": ["plan", "internal_supervisors"],
        "findings": [{"item_title": "实施计划与现场一致", "severity": "major", "public_summary": "考场座位与计划不符"}],
        "sealed_on": "2026-04-02",
        "record_hash": "3" * 64,
    }
    kept = await read_model_text(store_of(query))
    # pool id, evidence, signature, and the finding's description (for the exam record: it may name people)
    for unpublished in ("33-E000777", "e" * 64, "c" * 64, "quality_supervisor", "周某"):
        assert unpublished not in kept


async def test_inspections_are_listed_newest_first_and_filtered(query: ServiceBus) -> None:
    other_organization = "S000032000001"
    await query.deliver(samples.envelope(inspection("33-I000001", on=date(2026, 4, 1))))
    await query.deliver(samples.envelope(inspection("33-I000002", on=date(2026, 5, 1))))
    theirs = inspection("32-I000001", on=date(2026, 4, 15), organization=other_organization)
    await query.deliver(
        samples.envelope(theirs.model_copy(update={"organization_name": "苏州市技能评价中心"}), province=OTHER)
    )
    async with public(query) as client:
        page = await get(client, "/inspections")
        assert [i["inspection_id"] for i in page["data"]] == ["33-I000002", "32-I000001", "33-I000001"]
        assert page["count"] == 3
        assert [i["inspection_id"] for i in (await get(client, "/inspections", province=OTHER))["data"]] == [
            "32-I000001"
        ]
        by_code = await get(client, "/inspections", organization_code=samples.ORGANIZATION.lower())
        assert [i["inspection_id"] for i in by_code["data"]] == ["33-I000002", "33-I000001"]
        assert [i["inspection_id"] for i in (await get(client, "/inspections", q="苏州"))["data"]] == ["32-I000001"]
        paged = await get(client, "/inspections", offset=1, limit=1)
        assert ([i["inspection_id"] for i in paged["data"]], paged["count"]) == (["32-I000001"], 3)


async def test_organizations_carry_their_inspections_newest_first(query: ServiceBus) -> None:
    other_organization = "S000033000002"
    await query.deliver(samples.envelope(samples.organization_filed(samples.ORGANIZATION)))
    await query.deliver(samples.envelope(samples.organization_filed(other_organization)))
    async with public(query) as client:
        catalogue = (await get(client, "/organizations"))["data"]
        assert [o["inspections"] for o in catalogue] == [[], []]

        await query.deliver(samples.envelope(inspection("33-I000001", on=date(2026, 4, 1))))
        await query.deliver(samples.envelope(inspection("33-I000002", on=date(2026, 5, 1))))
        # The organization's site in another province, inspected there [Z四(一)]: it is the same organization.
        await query.deliver(samples.envelope(inspection("32-I000001", on=date(2026, 4, 15)), province=OTHER))
        catalogue = (await get(client, "/organizations"))["data"]
        by_code = {o["filing_code"]: o["inspections"] for o in catalogue}
        assert [i["inspection_id"] for i in by_code[samples.ORGANIZATION]] == ["33-I000002", "32-I000001", "33-I000001"]
        assert by_code[other_organization] == []
        served = by_code[samples.ORGANIZATION][0]
        assert set(served) == set(InspectionSummary.model_fields)
        assert served["findings"][0]["severity"] == "major"


# --- star ratings (星级评定 [Z五(五)]) ----------------------------------------------------------------------

TRACKING_CODE = "33-8H4K2M9QX4PZ"


def rated(year: int = 2026, *, stars: int = 3, organization: str = samples.ORGANIZATION) -> OrganizationRated:
    """A rating with its inputs: a major finding (10 points) and an upheld complaint (8 points), 100 - 18 = 82."""
    return OrganizationRated(
        filing_code=organization,
        organization_name="杭州市机械行业协会技能评价中心1号",
        year=year,
        stars=stars,
        score=82,
        draw_weight=3,
        indicators=[
            RatedIndicator(
                code="finding_major", title="检查发现较重问题", count=1, points=10, references=["33-I000001/finding-1"]
            ),
            RatedIndicator(
                code="complaint_upheld", title="投诉举报查实", count=1, points=8, references=[TRACKING_CODE]
            ),
            RatedIndicator(code="report_late", title="结果逾期上报", count=0, points=5),
        ],
        rated_on=date(year + 1, 1, 5),
    )


async def test_a_rating_is_on_its_organizations_entry_with_its_inputs(query: ServiceBus) -> None:
    other_organization = "S000032000001"
    await query.deliver(samples.envelope(samples.organization_filed(samples.ORGANIZATION)))
    await query.deliver(samples.envelope(samples.organization_filed(other_organization), province=OTHER))
    event = samples.envelope(rated())
    await query.deliver(event)
    await query.deliver(event)
    await query.deliver(event, topic=f"zj.{query.topic(ORGANIZATION_RATED)}")  # and its mirrored copy
    async with public(query) as client:
        response = await client.get("/organizations")
        assert response.status_code == 200
        by_code = {o["filing_code"]: o["rating"] for o in response.json()["data"]}
    assert by_code[other_organization] is None  # not rated yet
    rating = by_code[samples.ORGANIZATION]
    assert set(rating) == set(RatingView.model_fields)
    assert rating == {
        "province": "33",
        "year": 2026,
        "stars": 3,
        "score": 82,
        "draw_weight": 3,
        "indicators": [
            {
                "code": "finding_major",
                "title": "检查发现较重问题",
                "count": 1,
                "points": 10,
                "references": ["33-I000001/finding-1"],
            },
            # Counted, but its tracking code would show anyone the complaint's status and reply.
            {"code": "complaint_upheld", "title": "投诉举报查实", "count": 1, "points": 8, "references": []},
            {"code": "report_late", "title": "结果逾期上报", "count": 0, "points": 5, "references": []},
        ],
        "rated_on": "2027-01-05",
        "formula": "skillcert-rating-1",
    }
    # Public so that anyone recomputes it.
    assert rating["score"] == max(0, 100 - sum(i["count"] * i["points"] for i in rating["indicators"]))
    assert TRACKING_CODE not in response.text
    assert TRACKING_CODE not in await read_model_text(store_of(query))


async def test_a_rating_of_an_older_year_is_ignored_and_a_re_sent_one_replaces(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(samples.organization_filed(samples.ORGANIZATION)))

    async def served() -> tuple[int, int]:
        async with public(query) as client:
            [entry] = (await get(client, "/organizations"))["data"]
        return entry["rating"]["year"], entry["rating"]["stars"]

    this_year = sent_at(samples.envelope(rated(2026, stars=3)), SENT)
    await query.deliver(this_year)
    await query.deliver(sent_at(samples.envelope(rated(2025, stars=5)), SENT + timedelta(days=1)))
    assert await served() == (2026, 3)  # last year's, sent later, does not replace this year's

    again = sent_at(samples.envelope(rated(2026, stars=4)), SENT + timedelta(days=2))  # a second run of the year
    await query.deliver(again)
    assert await served() == (2026, 4)
    await query.deliver(this_year)  # the first run delivered again later (a replay, a second copy of the topic)
    assert await served() == (2026, 4)
    await query.deliver(sent_at(samples.envelope(rated(2027, stars=2)), SENT))  # a later year, whenever sent
    assert await served() == (2027, 2)


async def test_a_rating_before_its_filing_is_joined_when_the_filing_arrives(query: ServiceBus) -> None:
    await query.deliver(samples.envelope(rated(), province=OTHER))  # another province rated it (its site there)
    async with public(query) as client:
        assert (await get(client, "/organizations", filed_only="false"))["count"] == 0  # no entry of its own
        await query.deliver(samples.envelope(samples.organization_filed(samples.ORGANIZATION)))
        [entry] = (await get(client, "/organizations"))["data"]
    assert (entry["rating"]["province"], entry["rating"]["year"]) == (OTHER, 2026)


def test_the_rebuild_waits_for_the_ratings_topic() -> None:
    """A new read model is ready only once the (compacted) ratings topic is read too: the latest rating of each
    organization is restored from the log."""
    assert ORGANIZATION_RATED in flows.CONTRACTS
    assert ORGANIZATION_RATED.compacted


# --- a batch plan's staff --------------------------------------------------------------------------


async def test_a_batch_plans_staff_never_reaches_redis_or_the_api(query: ServiceBus) -> None:
    plan = samples.batch_plan()
    assert plan.staff, "the sample names staff"
    await query.deliver(samples.envelope(plan))
    store = store_of(query)
    kept = await read_model_text(store)
    for person in plan.staff:
        assert person.name not in kept and person.id_number not in kept
    async with public(query) as client:
        response = await client.get("/batch-plans", params={"year": 2026})
        assert response.status_code == 200
        [served] = response.json()["data"]
        assert served["batch_id"] == samples.BATCH and "staff" not in served
        for person in plan.staff:
            assert person.name not in response.text and person.id_number not in response.text

        # An entry that a release keeping the whole payload wrote into the same Redis (a rolling upgrade).
        await store.redis.hset(store.key("batch-plans"), "batch-2", samples.batch_plan("batch-2").model_dump_json())
        await store.redis.incr(store.key("batch-plans", "version"))
        response = await client.get("/batch-plans", params={"year": 2026})
        assert response.json()["count"] == 2
        for person in plan.staff:
            assert person.name not in response.text and person.id_number not in response.text


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (f"/inspection-plans/3x/{PLAN}", {}, "path.province"),
        (f"/inspection-plans/333/{PLAN}/plan.json", {}, "path.province"),
        (f"/inspection-plans/33/{'P' * 65}", {}, "path.plan_id"),
        ("/inspection-plans", {"province": "zj"}, "query.province"),
        ("/inspection-plans", {"limit": "0"}, "query.limit"),
        ("/inspection-plans", {"q": "x" * 61}, "query.q"),
        ("/inspections", {"organization_code": "S00003300000"}, "query.organization_code"),
        ("/inspections", {"province": "3"}, "query.province"),
        ("/inspections", {"offset": "-1"}, "query.offset"),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    query: ServiceBus, url: str, params: dict[str, str], field: str
) -> None:
    async with public(query) as client:
        response = await client.get(url, params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["field"] == field and error["reason"]


async def test_an_unknown_plan_is_404_with_a_reason(query: ServiceBus) -> None:
    async with public(query) as client:
        for url in (f"/inspection-plans/33/{PLAN}", f"/inspection-plans/33/{PLAN}/plan.json"):
            body = await get(client, url, 404)
            assert body == {"detail": f"no inspection plan {PLAN} of province 33 on record"}
        await query.deliver(samples.envelope(samples.plan_published(PLAN)))
        body = await get(client, f"/inspection-plans/33/{PLAN}/draw.json", 404)
        assert body == {"detail": f"inspection plan {PLAN} of province 33 not drawn yet"}
        await get(client, f"/inspection-plans/{OTHER}/{PLAN}", 404)  # another province's plan of that id
