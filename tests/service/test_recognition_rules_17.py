"""Issue 17, recognition: who approves a plan [L20], new exam sites notified to their division [Z四(一), G四(二)],
the filed occupation and work type [L26, L附件8], publicity rounds after an upheld objection [G三(五)], staff and
candidates' facts, a filing lapsing before the exam ends [L28], the publicity's date, unreadable uploads, and the
organization's details from the registry."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from stdnum.cn import ric

from infra.walkthrough import batch_plan, candidate, expect, resident_id
from services.recognition import rules, service
from services.recognition.models import Batch, BatchStatus, Candidate, OrganizationAuthority, ResultObjectionCreate
from shared.kernel.errors import Conflict, FieldErrors
from shared.kernel.events import FiledSite, OrganizationFiled
from shared.kernel.workflow import ObjectionResolution
from shared.platform.bus import EventTooEarly
from shared.platform.outbox import OutboxEvent
from shared.platform.replicas import FiledOrganization
from tests.service import samples
from tests.service import test_recognition_rules as base
from tests.service.conftest import ServiceBus, running
from tests.units import as_unit, at_edge

session = base.session  # the rule tests' database: two filed organizations, TODAY a Monday
TODAY, OPERATOR, DEPARTMENT, ZHEJIANG = base.TODAY, base.OPERATOR, base.DEPARTMENT, base.ZHEJIANG
CODE = samples.ORGANIZATION
NEW_SITE = {"address": "杭州市西湖区文三路9号", "city": "杭州市", "county": "西湖区", "region": "330106"}


def born_in_2010(serial: int) -> str:
    """A resident identity card number of someone born 1 January 2010 in 西湖区."""
    body = f"33010620100101{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # python-stdnum expects a placeholder digit


def fields(error: pytest.ExceptionInfo[Any]) -> list[str]:
    return [field for field, _ in base.refusals(error)]


def events(session: Session, event_type: str) -> list[dict[str, Any]]:
    rows = session.exec(select(OutboxEvent).where(OutboxEvent.event_type == event_type))
    return [json.loads(row.body)["payload"] for row in rows]


# --- 1. the plan is approved by the testing department of the organization's authority [L20] -------------------


async def filed_by(bus: ServiceBus, selected_by: str | None) -> OrganizationFiled:
    filed = samples.organization_filed().model_copy(
        update={"selected_by": selected_by, "sites": [FiledSite(address="杭州市人民路1号", city="杭州市")]}
    )
    await bus.deliver(samples.envelope(filed))
    return filed


async def submitted(bus: ServiceBus, client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    with bus.unit() as unit:
        day = unit.today
    plan = batch_plan(CODE, "33", today=day, **changes)
    batch = expect(await client.post("/batches", json=plan, headers=bus.token("org_operator", CODE)), 201)
    return expect(await client.post(f"/batches/{batch['id']}/submit", headers=bus.token("org_operator", CODE)), 200)


async def test_a_plan_is_approved_by_the_department_of_the_division_that_selected_the_organization(
    tmp_path: Any, topic_root: str
) -> None:
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root) as bus, bus.http() as client:
        await filed_by(bus, "330100")
        assert bus.rows(OrganizationAuthority)[0].selected_by == "330100"
        batch = await submitted(bus, client, site={"address": "杭州市人民路1号", "city": "杭州市"})
        at = f"/batches/{batch['id']}/plan-decision"
        province = await client.post(at, json={"approve": True}, headers=bus.token("testing_department"))
        assert province.status_code == 403, province.text
        assert "330100" in province.json()["detail"] and "[L20]" in province.json()["detail"]
        ningbo = await client.post(at, json={"approve": True}, headers=bus.token("testing_department", region="330200"))
        assert ningbo.status_code == 403
        hangzhou = bus.token("testing_department", region="330100")
        approved = expect(await client.post(at, json={"approve": True}, headers=hangzhou), 200)
        assert (approved["status"], approved["plan_approved_by_region"]) == ("plan_approved", "330100")
        [plan] = [json.loads(e.body)["payload"] for e in bus.rows(OutboxEvent)]
        assert plan["approved_by_region"] == "330100"


async def test_without_a_selecting_division_the_province_s_department_approves(tmp_path: Any, topic_root: str) -> None:
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root) as bus, bus.http() as client:
        await filed_by(bus, None)
        batch = await submitted(bus, client, site={"address": "杭州市人民路1号", "city": "杭州市"})
        at = f"/batches/{batch['id']}/plan-decision"
        city = await client.post(at, json={"approve": True}, headers=bus.token("testing_department", region="330100"))
        assert city.status_code == 403 and "330000" in city.json()["detail"]
        expect(await client.post(at, json={"approve": True}, headers=bus.token("testing_department")), 200)


# --- 2. a new exam site is notified to the site's own division [Z四(一), G四(二)] -------------------------------


def test_a_new_site_names_its_division_inside_the_province(session: Session) -> None:
    with pytest.raises(FieldErrors, match="new exam site") as error:
        base.create(session, site={"address": "杭州市文三路9号", "city": "杭州市"})
    assert fields(error) == ["site.region"]
    with pytest.raises(FieldErrors, match="not in province 33") as error:
        base.create(session, site={**NEW_SITE, "region": "320102"})
    assert fields(error) == ["site.region"]
    filed = base.create(session)  # a filed site needs none
    assert (filed.new_site, filed.site_region) == (False, None)


async def test_the_site_s_division_lists_the_new_site_batches_notified_to_it(tmp_path: Any, topic_root: str) -> None:
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root) as bus, bus.http() as client:
        await filed_by(bus, None)
        new = await submitted(bus, client, site=NEW_SITE)
        others = [{**p, "id_number": resident_id("33", 700 + i)} for i, p in enumerate(batch_plan(CODE, "33")["staff"])]
        filed = await submitted(bus, client, site={"address": "杭州市人民路1号", "city": "杭州市"}, staff=others)
        department = bus.token("testing_department")
        assert expect(await client.get("/new-site-batches", headers=department), 200)["count"] == 0  # not approved
        for batch in (new, filed):
            expect(
                await client.post(f"/batches/{batch['id']}/plan-decision", json={"approve": True}, headers=department),
                200,
            )
        plans = [json.loads(e.body)["payload"] for e in bus.rows(OutboxEvent)]
        assert sorted((p["new_site"], p["site_region"]) for p in plans) == [(False, None), (True, "330106")]

        def listed(answer: httpx.Response) -> list[str]:
            return [b["id"] for b in expect(answer, 200)["data"]]

        for token in (
            bus.token("testing_department", region="330100"),  # the city's department
            bus.token("county_official", region="330106"),  # the site's county
            bus.token("city_official", region="330100"),
            department,  # the province's
        ):
            assert listed(await client.get("/new-site-batches", headers=token)) == [new["id"]]
        assert (
            listed(await client.get("/new-site-batches", headers=bus.token("testing_department", region="330200")))
            == []
        )
        assert (
            listed(await client.get("/new-site-batches", headers=bus.token("county_official", region="330102"))) == []
        )
        shown = expect(await client.get("/new-site-batches", headers=department), 200)["data"][0]
        assert (shown["site_region"], shown["site"]["region"], shown["plan_approved_by_region"]) == (
            "330106",
            "330106",
            "330000",
        )
        operator = await client.get("/new-site-batches", headers=bus.token("org_operator", CODE))
        assert operator.status_code == 403


# --- 3. the occupation's name and work type are the filed scope's [L26, G四(二), L附件8] --------------------------


def with_work_types(session: Session) -> None:
    organization = session.get(FiledOrganization, "S000033000001")
    assert organization is not None
    organization.scope = [
        {"occupation_code": "6-18-01-01", "occupation_name": "车工", "work_type": "数控车工", "levels": [5, 4]},
        {"occupation_code": "6-18-01-01", "occupation_name": "车工", "work_type": "普通车工", "levels": [4, 3]},
    ]
    session.add(organization)
    session.commit()


def test_the_batch_takes_the_filed_occupation_name_and_work_type(session: Session) -> None:
    typed = base.create(session, occupation_name="高级量子工程师")
    assert (typed.occupation_name, typed.work_type) == ("车工", None)  # the filed row, not the text typed
    with_work_types(session)
    with pytest.raises(FieldErrors, match="work type 量子车工 is not filed") as error:
        base.create(session, work_type="量子车工")
    assert fields(error) == ["work_type"]
    with pytest.raises(FieldErrors, match="name the one") as error:
        base.create(session)  # level 4: two work types filed, none named
    assert fields(error) == ["work_type"]
    with pytest.raises(FieldErrors, match="not filed") as error:
        base.create(session, level=3, work_type="数控车工")  # filed for levels 5 and 4 only
    assert fields(error) == ["work_type"]
    only_row = base.create(session, level=3, occupation_name="车工（随便写）")
    assert (only_row.occupation_name, only_row.work_type) == ("车工", "普通车工")
    batch = base.approved_plan(session, work_type=" 数控车工 ")
    assert batch.work_type == "数控车工"
    [plan] = events(session, "recognition.batch-plan-approved")
    assert (plan["occupation_name"], plan["work_type"]) == ("车工", "数控车工")


# --- 4. an upheld objection: corrected results, published again in a new round [G三(五)] -------------------------


def in_publicity(session: Session) -> tuple[Batch, list[Candidate]]:
    batch = base.approved_plan(session)
    day = batch.exam_ends_on
    results = base.scores(session, batch, theory=90, skill=90)
    results[1] = results[1].model_copy(update={"theory": 40})
    batch = service.record_results(unit=as_unit(session, today=day), batch=batch, results=results, actor=OPERATOR)
    batch = service.publish_results(unit=as_unit(session, today=day), batch=batch, published_on=day, actor=OPERATOR)
    candidates = service.candidates_of(unit=as_unit(session), batch_id=batch.id)
    return batch, candidates


def test_an_upheld_objection_leads_to_corrected_results_and_a_second_round(session: Session) -> None:
    batch, (first, second) = in_publicity(session)
    day = batch.exam_ends_on
    assert batch.results_round == 1
    objection = service.raise_objection(
        unit=as_unit(session),
        batch=batch,
        objection_in=ResultObjectionCreate(
            raised_on=day, raised_by="王芳", content="理论成绩登录有误", candidate_id=second.id
        ),
    )
    assert objection.round == 1 and objection.id is not None
    service.resolve_objection(
        unit=as_unit(session, today=day),
        batch=batch,
        objection_id=objection.id,
        resolution=ObjectionResolution(upheld=True, resolution="复核为76分"),
    )
    assert batch.results_publicity_until is not None
    after = batch.results_publicity_until + timedelta(days=1)
    with pytest.raises(Conflict, match="publish them again"):
        service.report(unit=as_unit(session, today=after), batch=batch, actor=OPERATOR)
    with pytest.raises(FieldErrors, match="not objected to") as error:
        service.record_results(
            unit=as_unit(session, today=after),
            batch=batch,
            results=base.scores(session, batch, theory=50, skill=50)[:1],
            actor=OPERATOR,
        )
    assert fields(error) == ["results.0.candidate_id"]
    corrected = [s for s in base.scores(session, batch, theory=76, skill=90) if s.candidate_id == second.id]
    batch = service.record_results(unit=as_unit(session, today=after), batch=batch, results=corrected, actor=OPERATOR)
    assert batch.status is BatchStatus.RESULTS_RECORDED
    assert service.trail_of(as_unit(session), batch.id)[-1].action == "correct_results"
    with pytest.raises(FieldErrors, match="has passed"):
        service.publish_results(unit=as_unit(session, today=after), batch=batch, published_on=day, actor=OPERATOR)
    batch = service.publish_results(unit=as_unit(session, today=after), batch=batch, published_on=after, actor=OPERATOR)
    assert (batch.status, batch.results_round, batch.results_published_on) == (
        BatchStatus.RESULTS_IN_PUBLICITY,
        2,
        after,
    )
    rounds = [(p["round"], p["passed"]) for p in events(session, "recognition.batch-results-published")]
    assert rounds == [(1, 1), (2, 2)]
    assert batch.results_publicity_until is not None
    done = batch.results_publicity_until + timedelta(days=1)
    # Only the current round's objections count: round 1's upheld one is history.
    batch = service.report(unit=as_unit(session, today=done), batch=batch, actor=OPERATOR)
    assert batch.status is BatchStatus.REPORTED
    [reported] = events(session, "recognition.batch-results-reported")
    assert (reported["objections"], reported["objections_upheld"]) == (1, 1)


def test_a_correction_waits_for_the_round_s_open_objections(session: Session) -> None:
    batch, _ = in_publicity(session)
    day = batch.exam_ends_on
    for upheld in (True, None):
        objection = service.raise_objection(
            unit=as_unit(session),
            batch=batch,
            objection_in=ResultObjectionCreate(raised_on=day, raised_by="考生", content="成绩有误"),
        )
        if upheld:
            assert objection.id is not None
            service.resolve_objection(
                unit=as_unit(session, today=day),
                batch=batch,
                objection_id=objection.id,
                resolution=ObjectionResolution(upheld=True, resolution="全批复核"),
            )
    with pytest.raises(Conflict, match="not resolved"):
        service.record_results(
            unit=as_unit(session, today=day),
            batch=batch,
            results=base.scores(session, batch, theory=80, skill=80),
            actor=OPERATOR,
        )


# --- 5. staff are not candidates; years of work since 16; the policy's examiners and supervisors -----------------


def test_staff_candidates_years_and_the_policy_s_minimum_staff_all_at_once(session: Session) -> None:
    staff = batch_plan("S000033000001", "33")["staff"]
    examiner = staff[0]
    one_examiner = [p for p in staff if p is not staff[3]]  # the policy asks 2 examiners
    young = candidate("33", 1, years_of_work=10, id_number=born_in_2010(1), name="小明")  # born 2010
    abroad = candidate("33", 2, id_type="护照", id_number="E12345678", birth_date="2000-06-01", years_of_work=11)
    with pytest.raises(FieldErrors) as error:
        base.create(
            session,
            staff=one_examiner,
            candidates=[
                candidate("33", 0),
                {**candidate("33", 3), "name": examiner["name"], "id_number": examiner["id_number"]},
                young,
                abroad,
            ],
        )
    refusals = base.refusals(error)
    assert [field for field, _ in refusals] == [
        "staff",
        "candidates.1.id_number",
        "candidates.2.years_of_work",
        "candidates.3.years_of_work",
    ]
    assert "requires at least 2" in refusals[0][1] and "serves this batch as examiner" in refusals[1][1]
    assert "at most 0" in refusals[2][1] and "at most 10" in refusals[3][1]
    assert session.exec(select(Batch)).all() == []
    # Zero is refused as before; the rule alone, with the policy:
    assert [e.reason for e in rules.staff_declared_errors([], ZHEJIANG)] == [
        f"the plan names no {role} [L20]" for role in ("examiner", "invigilator", "quality_supervisor")
    ]


def test_an_upload_refuses_staff_and_impossible_years_by_line(session: Session) -> None:
    batch = base.create(session)
    examiner = batch_plan("S000033000001", "33")["staff"][0]
    body = "name,id_type,id_number,years_of_work\n" + "\n".join(
        [
            f"赵六,居民身份证,{resident_id('33', 50)},3",
            f"{examiner['name']},居民身份证,{examiner['id_number']},3",
            f"小红,居民身份证,{born_in_2010(3)},2",
        ]
    )
    with pytest.raises(FieldErrors) as error:
        at_edge(session, lambda: upload(session, batch, body.encode(), "text/csv"))
    assert fields(error) == ["line 3.id_number", "line 4.years_of_work"]


# --- 6. a filing lapsing before the exam ends [L28, G四(二)] -------------------------------------------------------


def lapse(session: Session, on: Any) -> None:
    organization = session.get(FiledOrganization, "S000033000001")
    assert organization is not None
    organization.valid_until = on
    session.add(organization)
    session.commit()


def test_a_filing_lapsing_before_the_exam_ends_halts_the_batch(session: Session) -> None:
    batch = base.approved_plan(session)
    lapse(session, batch.exam_ends_on - timedelta(days=1))
    with pytest.raises(FieldErrors, match="lapses") as error:
        base.create(session)
    assert fields(error) == ["exam_ends_on"]
    with pytest.raises(Conflict, match="lapses on"):
        service.record_results(
            unit=as_unit(session, today=batch.exam_ends_on),
            batch=batch,
            results=base.scores(session, batch, theory=90, skill=90),
            actor=OPERATOR,
        )
    assert rules.withdrawal_refusal(batch, "filed", batch.exam_ends_on - timedelta(days=1)) is None
    cancelled = service.cancel(unit=as_unit(session), batch=batch, reason="备案到期", actor=DEPARTMENT)
    assert cancelled.status is BatchStatus.CANCELLED
    lapse(session, batch.exam_ends_on)  # renewed to the last day: it goes on
    assert rules.halted_reason(base.create(session), "filed", batch.exam_ends_on) is None


# --- 7. a publicity starts neither before what it publishes nor in the past [L22] -------------------------------


def test_a_publicity_is_not_dated_in_the_past_nor_before_its_results(session: Session) -> None:
    batch = base.approved_plan(session)
    day = batch.exam_ends_on
    later = day + timedelta(days=3)
    batch = service.record_results(
        unit=as_unit(session, today=later),
        batch=batch,
        results=base.scores(session, batch, theory=90, skill=90),
        actor=OPERATOR,
    )
    with pytest.raises(FieldErrors) as error:
        service.publish_results(unit=as_unit(session, today=later), batch=batch, published_on=day, actor=OPERATOR)
    reasons = [reason for _, reason in base.refusals(error)]
    assert "has passed" in reasons[0] and f"recorded on {later}" in reasons[1]
    tomorrow = later + timedelta(days=1)
    batch = service.publish_results(
        unit=as_unit(session, today=later), batch=batch, published_on=tomorrow, actor=OPERATOR
    )
    assert batch.results_published_on == tomorrow


# --- 8. an unreadable upload names its line (422), never a 500 -------------------------------------------------


def upload(session: Session, batch: Batch, body: bytes, content_type: str) -> tuple[int, int]:
    return service.upload_candidates(
        unit=as_unit(session, today=TODAY), batch=batch, upload=io.BytesIO(body), content_type=content_type
    )


def test_an_oversized_cell_or_bytes_not_utf8_name_their_line(session: Session) -> None:
    batch = base.create(session, candidates=[])
    header = "name,id_type,id_number,years_of_work\n"
    good = f"赵六,居民身份证,{resident_id('33', 50)},3\n"
    oversized = header + good + f'"{"长" * 140_000}",居民身份证,{resident_id("33", 51)},3\n'
    with pytest.raises(FieldErrors) as error:
        at_edge(session, lambda: upload(session, batch, oversized.encode(), "text/csv"))
    assert base.refusals(error)[0][0] == "line 3" and "131072" in base.refusals(error)[0][1]
    not_utf8 = (header + good).encode() + "王芳,居民身份证,".encode("gbk") + resident_id("33", 52).encode() + b",3\n"
    with pytest.raises(FieldErrors) as error:
        at_edge(session, lambda: upload(session, batch, not_utf8, "text/csv"))
    assert base.refusals(error)[0][0] == "line 3" and "not UTF-8" in base.refusals(error)[0][1]
    line = json.dumps({"name": "赵六", "id_number": resident_id("33", 50)}, ensure_ascii=False).encode() + b"\n"
    with pytest.raises(FieldErrors) as error:
        at_edge(session, lambda: upload(session, batch, line + "王芳".encode("gbk") + b"\n", "application/x-ndjson"))
    assert [f for f, _ in base.refusals(error)] == ["line 2"]
    assert service.candidate_count(as_unit(session), batch.id) == 0


# --- the organization's details from the registry [L11] --------------------------------------------------------


async def test_details_changes_replace_the_name_and_sites_once_and_in_order(tmp_path: Any, topic_root: str) -> None:
    async with running("recognition", tmp_path=tmp_path, topic_root=topic_root) as bus, bus.http() as client:
        early = samples.envelope(samples.details_changed())
        with pytest.raises(EventTooEarly, match="before its filing"):
            await bus.deliver(early)
        await filed_by(bus, "330100")
        change = samples.details_changed()  # change 2: 杭州市技能培训评价中心, one site 文三路1号 (330106)
        await bus.deliver(samples.envelope(change))
        older = change.model_copy(update={"change_id": 1, "name": "旧名称", "sites": []})
        await bus.deliver(samples.envelope(older))  # older, arriving later: nothing
        await bus.deliver(samples.envelope(change))  # again: the same
        [replica] = bus.rows(FiledOrganization)
        assert (replica.name, [s["address"] for s in replica.sites]) == (
            "杭州市技能培训评价中心",
            ["杭州市西湖区文三路1号"],
        )
        [authority] = bus.rows(OrganizationAuthority)
        assert (authority.selected_by, authority.region, authority.details_change_id) == ("330100", "330106", 2)
        batch = await submitted(bus, client, site={"address": "杭州市西湖区文三路1号", "city": "杭州市"})
        assert (batch["organization_name"], batch["new_site"], batch["site_region"]) == (
            "杭州市技能培训评价中心",
            False,
            "330106",
        )
