"""Each recognition rule, against the service functions and a real database (no broker needed)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, SQLModel, col, select

from infra.servers import free_port
from infra.walkthrough import batch_plan, candidate, resident_id
from services.recognition import rules, service
from services.recognition.models import (
    TABLES,
    Batch,
    BatchCreate,
    BatchStatus,
    Candidate,
    CorrectionCreate,
    Method,
    ResultObjectionCreate,
    ScoreCreate,
)
from services.recognition.prior_certificates import Claim, PriorCertificates, QueryUnavailable
from services.recognition.rules import PriorCertificate
from shared.kernel.errors import Conflict, FieldError, FieldErrors
from shared.kernel.policy import policy_for
from shared.kernel.workdays import add_working_days
from shared.kernel.workflow import ObjectionResolution
from shared.platform.auth import Actor
from shared.platform.db import make_engine
from shared.platform.outbox import OutboxEvent
from shared.platform.replicas import FiledOrganization
from tests.units import as_unit, at_edge

TODAY = date(2026, 11, 23)  # a Monday
OPERATOR = Actor("operator", "org_operator")
DEPARTMENT = Actor("department", "testing_department")
PROVINCE_DEPARTMENT = "330000"  # the province's testing department, which approves plans of organizations it selected
OFFICIAL = Actor("official", "province_official")
ZHEJIANG, GUANGXI = policy_for("33"), policy_for("45")


@pytest.fixture
def session(tmp_path: Any) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'recognition.db'}")
    SQLModel.metadata.create_all(engine, tables=[t.__table__ for t in TABLES])  # type: ignore[union-attr]
    with Session(engine) as session:
        for code, city, scope in (("S000033000001", "杭州市", "province"), ("S000045000001", "南宁市", "city")):
            session.add(
                FiledOrganization(
                    filing_code=code,
                    name=f"{city}评价中心",
                    org_type="S",
                    province=code[5:7],
                    city=city,
                    scope=[{"occupation_code": "6-18-01-01", "occupation_name": "车工", "levels": [5, 4, 3, 2]}],
                    filed_on=TODAY - timedelta(days=100),
                    valid_until=TODAY + timedelta(days=900),
                    evaluation_scope=scope,
                    sites=[{"address": f"{city}人民路1号", "city": city}],
                )
            )
        session.commit()
        yield session


def plan(code: str = "S000033000001", **changes: Any) -> BatchCreate:
    return BatchCreate.model_validate(batch_plan(code, code[5:7], today=TODAY, **changes))


def create(session: Session, batch_in: BatchCreate | None = None, **changes: Any) -> Batch:
    return at_edge(
        session,
        lambda: service.create_batch(
            unit=as_unit(session, today=TODAY), batch_in=batch_in or plan(**changes), actor=OPERATOR
        ),
    )


def submit(
    session: Session,
    batch: Batch,
    policy: Any = ZHEJIANG,
    prior: dict[str, PriorCertificate] | None = None,
    today: date = TODAY,
) -> Batch:
    return service.submit(
        unit=as_unit(session, today=today, policy=policy), batch=batch, actor=OPERATOR, prior=prior or {}
    )


def refusals(error: pytest.ExceptionInfo[Any]) -> list[tuple[str, str]]:
    value = error.value
    errors = value.errors if isinstance(value, FieldErrors) else [value]
    return [(e.field, e.reason) for e in errors]


def approved_plan(session: Session, **changes: Any) -> Batch:
    batch = submit(session, create(session, **changes))
    return service.decide_plan(
        unit=as_unit(session, today=TODAY),
        batch=batch,
        approve=True,
        reason=None,
        actor=DEPARTMENT,
        region=PROVINCE_DEPARTMENT,
    )


def scores(session: Session, batch: Batch, **score: Any) -> list[ScoreCreate]:
    ids = session.exec(select(Candidate.id).where(Candidate.batch_id == batch.id)).all()
    return [ScoreCreate(candidate_id=i, **score) for i in ids]


# --- the plan ------------------------------------------------------------------------------------------


def test_plan_within_the_replica_scope_only(session: Session) -> None:
    with pytest.raises(FieldError, match="no filed organization"):
        create(session, plan("S000033000099"))
    with pytest.raises(FieldErrors, match="level 1 is outside the filed scope"):
        create(session, level=1)
    with pytest.raises(FieldErrors, match="occupation 4-03-02-01 is outside"):
        create(session, occupation_code="4-03-02-01")
    organization = session.get(FiledOrganization, "S000033000001")
    assert organization is not None
    organization.status = "suspended"
    session.add(organization)
    session.commit()
    with pytest.raises(FieldErrors, match="suspended"):
        create(session)


def test_city_scope_organization_recognises_in_its_city_only(session: Session) -> None:
    elsewhere = plan(
        "S000045000001", level=3, site={"address": "柳州市城中区1号", "city": "柳州市", "region": "450202"}
    )
    with pytest.raises(FieldErrors, match="南宁市 only") as error:
        create(session, elsewhere)
    assert [e.field for e in error.value.errors] == ["site.city"]
    assert create(session, plan("S000045000001", level=3)).status is BatchStatus.DRAFT


def test_a_new_exam_site_is_flagged_for_dual_supervision(session: Session) -> None:
    filed_site = create(session)
    assert not filed_site.new_site
    new_site = submit(
        session,
        create(
            session,
            site={"address": "杭州市文三路9号", "city": "杭州市", "region": "330106"},
            candidates=[candidate("33", 5)],
            staff=[
                {**p, "id_number": resident_id("33", 700 + i)}
                for i, p in enumerate(batch_plan("S000033000001", "33")["staff"])
            ],
        ),
    )
    assert new_site.new_site
    assert "dual supervision" in (service.trail_of(as_unit(session), new_site.id)[-1].reason or "")


def test_guangxi_batches_are_announced_ten_working_days_ahead(session: Session) -> None:
    code = "S000045000001"
    starts = add_working_days(TODAY, 12)
    late = create(session, plan(code, level=3, announced_on=(starts - timedelta(days=7)).isoformat()))
    with pytest.raises(FieldErrors) as error:
        submit(session, late, GUANGXI, today=starts - timedelta(days=6))
    assert refusals(error)[0][0] == "announced_on" and "10 working days" in refusals(error)[0][1]
    unannounced = create(session, plan(code, level=3, announced_on=None, candidates=[candidate("45", 9)]))
    with pytest.raises(FieldErrors, match="announced_on"):
        submit(session, unannounced, GUANGXI)
    # Zhejiang's policy sets no announcement period.
    assert submit(session, create(session, announced_on=None)).status is BatchStatus.SUBMITTED
    assert (
        submit(
            session,
            create(session, plan(code, level=3, candidates=[candidate("45", 3)], staff=_other_staff("45"))),
            GUANGXI,
        ).status
        is BatchStatus.SUBMITTED
    )


def _other_staff(province: str) -> list[dict[str, Any]]:
    return [
        {**p, "id_number": resident_id(province, 800 + i)}
        for i, p in enumerate(batch_plan("S000033000001", province)["staff"])
    ]


def test_plan_names_every_role_and_one_role_per_person(session: Session) -> None:
    staff = batch_plan("S000033000001", "33")["staff"]
    with pytest.raises(FieldErrors, match="no quality_supervisor"):
        create(session, staff=staff[:2])
    with pytest.raises(FieldErrors, match="one role per person"):
        create(session, staff=[*staff, {**staff[0], "role": "invigilator"}])


def test_a_candidate_appears_once_per_batch_and_nothing_is_stored(session: Session) -> None:
    twice = [candidate("33", 0), candidate("33", 1), candidate("33", 0)]
    with pytest.raises(FieldErrors) as error:
        create(session, candidates=twice)
    assert refusals(error) == [("candidates.2.id_number", "张伟 appears twice in the batch")]
    assert session.exec(select(Batch)).all() == []


def test_examiners_do_not_examine_their_trainees_or_relatives(session: Session) -> None:
    staff = batch_plan("S000033000001", "33")["staff"]
    trainee = resident_id("33", 1)
    trained = {**staff[0], "trained": [trainee]}
    with pytest.raises(FieldErrors, match="不相容岗位分离") as error:
        submit(session, create(session, staff=[trained, *staff[1:]]))
    assert refusals(error)[0][0] == "staff.0"
    related = {**staff[1], "related": [trainee]}
    with pytest.raises(FieldErrors, match="回避"):
        submit(session, create(session, staff=[staff[0], related, *staff[2:]]))


def test_nobody_serves_two_sites_at_once(session: Session) -> None:
    submit(session, create(session))
    elsewhere = create(session, site={"address": "杭州市文三路9号", "city": "杭州市", "region": "330106"})
    with pytest.raises(FieldErrors, match="not two sites at once"):
        submit(session, elsewhere)
    later = create(
        session,
        site={"address": "杭州市文三路9号", "city": "杭州市", "region": "330106"},
        exam_starts_on=(TODAY + timedelta(days=60)).isoformat(),
        exam_ends_on=(TODAY + timedelta(days=61)).isoformat(),
    )
    assert submit(session, later).status is BatchStatus.SUBMITTED


def test_eligibility_by_level_years_and_prior_certificate(session: Session) -> None:
    def refusal_for(level: int, years: int, prior: PriorCertificate | None = None) -> list[tuple[str, str]]:
        facts = {"prior_certificate_number": prior.number} if prior else {}
        batch = create(session, level=level, candidates=[candidate("33", 0, years_of_work=years, **facts)])
        try:
            submit(
                session,
                batch,
                prior={c.id: prior for c in service.candidates_of(unit=as_unit(session), batch_id=batch.id)}
                if prior
                else None,
            )
        except FieldErrors as error:
            return [(e.field, e.reason) for e in error.errors]
        return []

    number = "S000032000001265000001"
    level_4 = PriorCertificate(
        number, found=True, held_by_candidate=True, level=4, occupation_code="6-18-01-01", status="valid"
    )
    assert refusal_for(3, 5, level_4) == []
    assert "5+ years" in refusal_for(3, 4, level_4)[0][1]
    assert refusal_for(3, 9)[0][0] == "candidates.0.years_of_work"  # 10 years without a certificate
    assert "level 2 needs a level 3 certificate" in refusal_for(2, 20)[0][1]
    assert "needs level 3" in refusal_for(2, 10, level_4)[0][1]
    assert "not held by this candidate" in refusal_for(3, 5, PriorCertificate(number, found=True))[0][1]
    assert "not on record" in refusal_for(3, 5, PriorCertificate(number, found=False))[0][1]
    revoked = PriorCertificate(number, True, True, 4, "6-18-01-01", "revoked")
    assert "is revoked" in refusal_for(3, 5, revoked)[0][1]


def test_direct_recognition_needs_the_award_or_the_completed_teaching_plan(session: Session) -> None:
    with pytest.raises(FieldErrors, match="award winners"):
        submit(session, create(session, method="competition"))
    awarded = [candidate("33", 0, competition_award="省职业技能大赛车工一等奖", years_of_work=0)]
    assert (
        submit(session, create(session, method="competition", candidates=awarded, staff=_other_staff("33"))).status
        is BatchStatus.SUBMITTED
    )
    with pytest.raises(FieldErrors, match="teaching plan"):
        submit(session, create(session, method="student", candidates=[candidate("33", 4)]))


def test_nothing_runs_unapproved(session: Session) -> None:
    batch = submit(session, create(session))
    with pytest.raises(Conflict, match="results are recorded for an approved plan"):
        service.record_results(
            unit=as_unit(session, today=TODAY, policy=ZHEJIANG),
            batch=batch,
            results=scores(session, batch, theory=90, skill=90),
            actor=OPERATOR,
        )
    starts = batch.exam_starts_on
    with pytest.raises(Conflict, match="nothing runs unapproved"):
        service.decide_plan(
            unit=as_unit(session, today=starts + timedelta(days=1)),
            batch=batch,
            approve=True,
            reason=None,
            actor=DEPARTMENT,
            region=PROVINCE_DEPARTMENT,
        )
    returned = service.decide_plan(
        unit=as_unit(session, today=TODAY),
        batch=batch,
        approve=False,
        reason="考评员不足",
        actor=DEPARTMENT,
        region=PROVINCE_DEPARTMENT,
    )
    assert returned.status is BatchStatus.RETURNED
    assert submit(session, returned).status is BatchStatus.SUBMITTED  # corrected and submitted again


# --- results -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "level", "score", "passed"),
    [
        ("assessment", 4, {"theory": 60, "skill": 60}, True),
        ("assessment", 4, {"theory": 59.5, "skill": 95}, False),
        ("assessment", 2, {"theory": 80, "skill": 80, "defence": 59}, False),
        ("combined", 4, {"theory": 70, "skill": 70, "performance": 65}, True),
        ("performance_review", 3, {"performance": 61}, True),
        ("competition", 3, {}, True),
        ("assessment", 4, {"theory": 90, "skill": 90, "absent": True}, False),
    ],
)
def test_pass_rules_per_method(method: str, level: int, score: dict[str, Any], passed: bool) -> None:
    result, missing = rules.judge(
        ScoreCreate(candidate_id="c", **score), method=Method(method), level=level, policy=ZHEJIANG
    )
    assert (result, missing) == (passed, [])


def test_missing_components_are_refused_by_name() -> None:
    _, missing = rules.judge(
        ScoreCreate(candidate_id="c", theory=80, skill=80), method=Method.ASSESSMENT, level=2, policy=ZHEJIANG
    )
    assert [name for name, _ in missing] == ["defence"]
    _, missing = rules.judge(ScoreCreate(candidate_id="c", theory=80), method=Method.COMBINED, level=4, policy=ZHEJIANG)
    assert [name for name, _ in missing] == ["skill", "performance"]


def test_publicity_report_review_recheck_and_corrections(session: Session) -> None:
    batch = approved_plan(session)
    exam_day = batch.exam_starts_on
    with pytest.raises(Conflict, match="no results before it runs"):
        service.record_results(
            unit=as_unit(session, today=TODAY, policy=ZHEJIANG),
            batch=batch,
            results=scores(session, batch, theory=90, skill=90),
            actor=OPERATOR,
        )
    results = scores(session, batch, theory=90, skill=90)
    results[1] = ScoreCreate(candidate_id=results[1].candidate_id, theory=40, skill=90)
    batch = service.record_results(
        unit=as_unit(session, today=exam_day, policy=ZHEJIANG), batch=batch, results=results, actor=OPERATOR
    )
    assert batch.status is BatchStatus.RESULTS_RECORDED
    batch = service.publish_results(
        unit=as_unit(session, today=exam_day, policy=ZHEJIANG), batch=batch, published_on=exam_day, actor=OPERATOR
    )
    assert batch.results_publicity_until == add_working_days(exam_day, 4)  # five working days, the first counted
    with pytest.raises(Conflict, match="report after it"):
        service.report(unit=as_unit(session, today=batch.results_publicity_until), batch=batch, actor=OPERATOR)
    objection = service.raise_objection(
        unit=as_unit(session),
        batch=batch,
        objection_in=ResultObjectionCreate(raised_on=exam_day, raised_by="考生家属", content="成绩有误"),
    )
    after = batch.results_publicity_until + timedelta(days=1)
    with pytest.raises(Conflict, match="not resolved"):
        service.report(unit=as_unit(session, today=after), batch=batch, actor=OPERATOR)
    assert objection.id is not None
    service.resolve_objection(
        unit=as_unit(session, today=after),
        batch=batch,
        objection_id=objection.id,
        resolution=ObjectionResolution(upheld=False, resolution="复核无误"),
    )
    assert batch.report_due_on is not None
    late = batch.report_due_on + timedelta(days=1)
    batch = service.report(unit=as_unit(session, today=late), batch=batch, actor=OPERATOR)
    assert batch.reported_late and "late" in (service.trail_of(as_unit(session), batch.id)[-1].reason or "")

    returned = service.review(
        unit=as_unit(session), batch=batch, approve=False, reason="汇总表缺签字", actor=DEPARTMENT
    )
    assert returned.status is BatchStatus.RESULTS_RECORDED  # fixed, published and reported again
    batch = service.publish_results(
        unit=as_unit(session, today=late, policy=ZHEJIANG), batch=returned, published_on=late, actor=OPERATOR
    )
    assert batch.results_publicity_until is not None
    done = batch.results_publicity_until + timedelta(days=1)
    batch = service.report(unit=as_unit(session, today=done), batch=batch, actor=OPERATOR)
    batch = service.review(unit=as_unit(session), batch=batch, approve=True, reason=None, actor=DEPARTMENT)
    assert not any(e.event_type == "recognition.batch-results-approved" for e in session.exec(select(OutboxEvent)))
    batch = service.recheck(
        unit=as_unit(session, today=done), batch=batch, approve=True, reason=None, actor=OFFICIAL, part_size=500
    )
    assert batch.status is BatchStatus.APPROVED
    approved = [
        json.loads(e.body)["payload"]
        for e in session.exec(select(OutboxEvent).where(OutboxEvent.event_type == "recognition.batch-results-approved"))
    ]
    assert [p["name"] for part in approved for p in part["passed"]] == ["张伟"]  # only who passed

    failed = session.exec(
        select(Candidate).where(Candidate.batch_id == batch.id, col(Candidate.passed).is_(False))
    ).one()
    correction = service.correct(
        unit=as_unit(session, today=done),
        batch=batch,
        correction_in=CorrectionCreate(candidate_id=failed.id, passed=True, reason="理论成绩登录错误, 复核为76分"),
        actor=OFFICIAL,
    )
    session.refresh(failed)
    assert failed.passed is False and correction.passed_now is True  # the approved record stays as it was
    assert service.current_result(as_unit(session), failed) is True
    events = [e.event_type for e in session.exec(select(OutboxEvent).order_by(col(OutboxEvent.seq)))]
    assert events[-1] == "recognition.batch-result-corrected"
    with pytest.raises(Conflict, match="already passed"):
        service.correct(
            unit=as_unit(session, today=done),
            batch=batch,
            correction_in=CorrectionCreate(candidate_id=failed.id, passed=True, reason="重复"),
            actor=OFFICIAL,
        )
    assert [t.action for t in service.trail_of(as_unit(session), batch.id)] == [
        "create",
        "submit",
        "approve_plan",
        "record_results",
        "publish_results",
        "report",
        "return_results",
        "publish_results",
        "report",
        "pass_review",
        "approve_results",
    ]


# --- uploads -------------------------------------------------------------------------------------------


def test_csv_upload_reports_every_bad_row_and_stores_nothing(session: Session) -> None:
    batch = create(session, candidates=[])
    good = [f"{c['name']},居民身份证,{c['id_number']},,10" for c in (candidate("33", i) for i in range(3))]
    wrong_digit = resident_id("33", 50)[:-1] + ("0" if resident_id("33", 50)[-1] != "0" else "1")
    rows = [
        "name,id_type,id_number,photo_ref,years_of_work",
        *good,
        f"坏号,居民身份证,{wrong_digit},,3",
        good[0],
        "负年限,护照,E1234567,,-1",
    ]
    with pytest.raises(FieldErrors) as error:
        service.upload_candidates(
            unit=as_unit(session), batch=batch, upload=io.BytesIO("\n".join(rows).encode()), content_type="text/csv"
        )
    fields = [f for f, _ in refusals(error)]
    assert fields == ["line 5.id_number", "line 6.id_number", "line 7.years_of_work"]
    assert service.candidate_count(as_unit(session), batch.id) == 0
    read, stored = service.upload_candidates(
        unit=as_unit(session), batch=batch, content_type="text/csv", upload=io.BytesIO("\n".join(rows[:4]).encode())
    )
    assert (read, stored, service.candidate_count(as_unit(session), batch.id)) == (3, 3, 3)
    lines = [json.dumps(candidate("33", 3)), json.dumps(candidate("33", 0)), "{not json"]
    with pytest.raises(FieldErrors) as error:
        service.upload_candidates(
            unit=as_unit(session),
            batch=batch,
            upload=io.BytesIO("\n".join(lines).encode()),
            content_type="application/x-ndjson",
        )
    assert [f for f, _ in refusals(error)] == ["line 2.id_number", "line 3"]  # already in the batch; not JSON
    assert service.candidate_count(as_unit(session), batch.id) == 3


async def test_an_unreachable_query_service_decides_nothing() -> None:
    """Submission answers 503 and changes nothing rather than judging a prior certificate it could not check."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}", timeout=2) as nobody_listens:
        with pytest.raises(QueryUnavailable):
            await PriorCertificates(nobody_listens).check(
                [Claim("c1", "张伟", resident_id("32", 1), "S000032000001265000001")]
            )
