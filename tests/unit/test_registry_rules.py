"""Each eligibility rule of the registry, against the shipped province policies (no broker needed)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from pydantic import ValidationError
from stdnum.cn import uscc

from infra.walkthrough import material, organization_application
from services.registry.models import ApplicationCreate
from services.registry.occupations import occupation_catalogue
from services.registry.rules import (
    PeerInstitution,
    check_application,
    check_override,
    licence_warning,
    official_refusal,
    selecting_region,
)
from shared.kernel import workdays
from shared.kernel.policy import POLICIES_DIR, OrgKind, load_policy, policy_for
from shared.kernel.workdays import add_working_days, is_working_day, publicity_end

PROVINCES = ("21", "31", "32", "33", "37", "45")


def occupation(code: str, name: str, levels: list[int], person_times: int = 2500) -> dict[str, Any]:
    return {
        "occupation_code": code,
        "occupation_name": name,
        "levels": levels,
        "standard": f"{name}国家职业技能标准",
        "person_times": person_times,
    }


LATHE = occupation("6-18-01-01", "车工", [5, 4, 3])


def errors_for(province: str, **changes: Any) -> list[tuple[str, str]]:
    return errors_among(province, [], **changes)


def errors_among(province: str, peers: list[PeerInstitution], **changes: Any) -> list[tuple[str, str]]:
    """The refusals of an application, given the training institutions already filed."""
    application = ApplicationCreate.model_validate(organization_application(province, **changes))
    found = check_application(application, policy=policy_for(province), catalogue=occupation_catalogue(), peers=peers)
    return [(e.field, e.reason) for e in found]


def fields(errors: list[tuple[str, str]]) -> list[str]:
    return [field for field, _ in errors]


def test_the_sample_application_meets_every_rule_in_every_province_without_scope_thresholds() -> None:
    for province in ("21", "31", "32", "33", "37"):
        assert errors_for(province) == []


# --- policies ------------------------------------------------------------------------------------------


def test_every_shipped_policy_is_valid_and_cites_its_sources() -> None:
    for province in PROVINCES:
        policy = policy_for(province)
        assert policy.code == province
        assert all(limit.source for limit in policy.authority)
        assert policy.filing.validity_years == 3


def test_a_policy_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    text = (POLICIES_DIR / "33-zhejiang.toml").read_text() + "\nsurprise = 1\n"
    (tmp_path / "33-zhejiang.toml").write_text(text)
    with pytest.raises(ValidationError, match="surprise"):
        load_policy(tmp_path / "33-zhejiang.toml")


def test_a_policy_for_another_province_is_refused(tmp_path: Path) -> None:
    (tmp_path / "32-wrong.toml").write_text((POLICIES_DIR / "33-zhejiang.toml").read_text())
    with pytest.raises(ValueError, match="declares province 33"):
        policy_for("32", tmp_path)


def test_only_zhejiang_employers_have_the_eight_level_ladder() -> None:
    assert [level.title for level in policy_for("33").ladder_for(OrgKind.ENTERPRISE).levels][-2:] == [
        "特级技师",
        "首席技师",
    ]
    assert len(policy_for("33").ladder_for(OrgKind.INDUSTRY_ORGANIZATION).levels) == 5
    assert len(policy_for("21").ladder_for(OrgKind.ENTERPRISE).levels) == 5


# --- occupations ---------------------------------------------------------------------------------------


def test_access_type_occupations_are_refused() -> None:
    welder = occupation("6-18-02-04", "焊工", [5])
    errors = errors_for("33", occupations=[welder], main_business_occupations=["6-18-02-04"])
    assert fields(errors) == ["occupations.0.occupation_code"]
    assert "准入类" in errors[0][1]


def test_occupations_outside_the_catalogue_are_refused() -> None:
    errors = errors_for(
        "33", occupations=[occupation("9-99-99-99", "不存在", [5])], main_business_occupations=["9-99-99-99"]
    )
    assert fields(errors) == ["occupations.0.occupation_code"]


def test_levels_beyond_the_occupations_standard_are_refused() -> None:
    nursery = occupation("4-10-01-02", "育婴员", [5, 4, 3, 2])
    errors = errors_for("33", occupations=[nursery], main_business_occupations=["4-10-01-02"])
    assert fields(errors) == ["occupations.0.levels"]


# --- authority limits [L16] ----------------------------------------------------------------------------


def test_county_industry_organization_cannot_get_level_3() -> None:
    errors = errors_for("33", admin_level="county")
    assert fields(errors) == ["occupations.0.levels"]
    assert "L16(一)" in errors[0][1]
    assert errors_for("33", admin_level="county", occupations=[occupation("6-18-01-01", "车工", [5, 4])]) == []


def test_city_industry_organizations_reach_level_1_only_in_shenyang_and_dalian() -> None:
    top = [occupation("6-18-01-01", "车工", [2, 1])]
    assert fields(errors_for("21", admin_level="city", city="锦州市", occupations=top)) == ["occupations.0.levels"]
    assert errors_for("21", admin_level="city", city="沈阳市", occupations=top) == []


def test_industry_organizations_only_in_their_main_business() -> None:
    errors = errors_for("33", main_business_occupations=["6-18-01-01"])
    assert fields(errors) == ["occupations.1.occupation_code"]


def test_industry_organizations_need_their_administrative_level() -> None:
    assert "admin_level" in fields(errors_for("33", admin_level=None))


def school(kind: str, levels: list[int], *, enrolling: bool = True) -> dict[str, Any]:
    return {
        "kind": kind,
        "admin_level": None,
        "occupations": [occupation("6-18-01-01", "车工", levels)],
        "majors": [{"name": "机械加工技术", "occupation_codes": ["6-18-01-01"], "enrolling": enrolling}],
    }


def test_technical_school_cannot_get_level_1_but_a_technician_college_can() -> None:
    assert fields(errors_for("33", **school("technical_school", [2, 1]))) == ["occupations.0.levels"]
    assert errors_for("33", **school("senior_technical_school", [2, 1])) == []


def test_schools_only_within_enrolling_majors() -> None:
    outside = {**school("technical_school", [4]), "majors": [{"name": "烹饪", "occupation_codes": ["4-03-02-01"]}]}
    assert fields(errors_for("33", **outside)) == ["occupations.0.occupation_code"]
    stopped = errors_for("33", **school("technical_school", [4], enrolling=False))
    assert "stopped enrolling" in stopped[0][1]


def test_employers_only_within_their_self_evaluation_scope() -> None:
    employer = {"kind": "enterprise", "admin_level": None, "occupations": [LATHE]}
    assert fields(errors_for("33", **employer)) == ["occupations.0.occupation_code"]
    assert errors_for("33", **employer, self_evaluation_scope=["6-18-01-01"]) == []


def test_zhejiang_employer_may_file_special_technician_but_not_elsewhere() -> None:
    special = {
        "kind": "enterprise",
        "admin_level": None,
        "self_evaluation_scope": ["6-18-01-01"],
        "occupations": [occupation("6-18-01-01", "车工", [2, 1, 0])],
    }
    assert errors_for("33", **special) == []
    errors = errors_for("21", **special)
    assert fields(errors) == ["occupations.0.levels"]
    assert "not on this organization's ladder" in errors[0][1]


# --- training institutions [L16] -----------------------------------------------------------------------


def institution(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "training_institution",
        "admin_level": None,
        "county": "西湖区",
        "occupations": [occupation("4-03-02-01", "中式烹调师", [5, 4, 3], 2500)],
        **changes,
    }


def test_training_institution_caps_occupations_and_levels() -> None:
    codes = [
        ("4-03-02-01", "中式烹调师"),
        ("4-03-02-02", "中式面点师"),
        ("4-03-02-03", "西式烹调师"),
        ("4-03-02-04", "西式面点师"),
        ("4-10-03-01", "美容师"),
        ("4-10-03-02", "美发师"),
    ]
    six = [occupation(code, name, [5], 400) for code, name in codes]
    assert "occupations" in fields(errors_for("33", **institution(occupations=six)))
    assert errors_for("33", **institution(occupations=six[:5])) == []
    errors = errors_for("33", **institution(occupations=[occupation("4-03-02-01", "中式烹调师", [4, 3, 2], 2500)]))
    assert fields(errors) == ["occupations.0.levels"]


def test_training_institutions_per_occupation_per_city_and_county() -> None:
    cook = frozenset({"4-03-02-01"})
    three_in_city = [PeerInstitution("杭州市", county, cook) for county in ("上城区", "拱墅区", "滨江区")]
    errors = errors_among("33", three_in_city, **institution())
    assert fields(errors) == ["occupations.0.occupation_code"]
    assert "at most 3 per city" in errors[0][1]
    same_county = [PeerInstitution("杭州市", "西湖区", cook)]
    assert "per county" in errors_among("33", same_county, **institution())[0][1]
    elsewhere = [PeerInstitution("宁波市", "海曙区", cook)] * 3
    assert errors_among("33", elsewhere, **institution()) == []


# --- thresholds ----------------------------------------------------------------------------------------


def licence_warning_for(province: str, **changes: Any) -> str | None:
    application = ApplicationCreate.model_validate(organization_application(province, **changes))
    return licence_warning(application, policy=policy_for(province))


FEW = [occupation("6-18-01-01", "车工", [5, 4], 1000), occupation("4-03-02-01", "中式烹调师", [5], 500)]


def test_liaoning_licence_short_of_2000_person_times_is_a_warning_never_a_refusal() -> None:
    """L6(二): influence and experience, *or* a licence with 一般不少于2000人次: the figure warns the assessor."""
    licence = {"basis": "licence", "licence_number": "辽鉴字2019-001"}
    assert errors_for("21", occupations=FEW, **licence) == []
    warning = licence_warning_for("21", occupations=FEW, **licence)
    assert warning is not None and "1500" in warning and "2000" in warning and "L6(二)" in warning
    assert licence_warning_for("21", **licence) is None  # 2400 person-times reach it
    assert licence_warning_for("21", occupations=FEW) is None  # influence and experience: the experts judge
    for province in ("31", "32", "33", "37"):  # their notices state no figure
        assert errors_for(province, occupations=FEW, **licence) == []
        assert licence_warning_for(province, occupations=FEW, **licence) is None


def test_a_licence_basis_names_its_licence() -> None:
    with pytest.raises(ValidationError, match="licence_number"):
        ApplicationCreate.model_validate(organization_application("21", basis="licence"))


def test_the_assessment_overrides_a_licence_warning_only_with_reasons() -> None:
    policy = policy_for("21")
    [error] = check_override("short", None, policy=policy)
    assert error.field == "override_reasons" and "2000" in error.reason and "L6(二)" in error.reason
    assert check_override("short", "该机构在行业内影响力大", policy=policy) == []
    assert check_override(None, None, policy=policy) == []


def test_guangxi_city_scope_thresholds_and_level_3_and_below() -> None:
    city_scope = {
        "evaluation_scope": "city",
        "years_of_evaluation": 3,
        "occupations": [
            occupation("6-18-01-01", "车工", [5, 4, 3], 3000),
            occupation("4-03-02-01", "中式烹调师", [5, 4], 2000),
        ],
    }
    assert errors_for("45", **city_scope) == []
    level_2 = {**city_scope, "occupations": [occupation("6-18-01-01", "车工", [3, 2], 5000)]}
    errors = errors_for("45", **level_2)
    assert fields(errors) == ["occupations.0.levels"]
    assert "G一(二)" in errors[0][1]
    small = {
        **city_scope,
        "years_of_evaluation": 2,
        "occupations": [occupation("6-18-01-01", "车工", [5], 900), occupation("4-03-02-01", "中式烹调师", [5], 900)],
    }
    assert sorted(fields(errors_for("45", **small))) == [
        "occupations",
        "occupations.0.person_times",
        "occupations.1.person_times",
        "years_of_evaluation",
    ]


def test_guangxi_national_scope_needs_50000() -> None:
    errors = errors_for("45", evaluation_scope="national", years_of_evaluation=6)
    assert "occupations" in fields(errors)
    assert any("50000" in reason for _, reason in errors)


# --- materials -----------------------------------------------------------------------------------------


def test_examiners_and_quality_supervisors_at_least_the_policys_all_at_once() -> None:
    """L6(三): an expert team, examiners and quality supervisors: none is refused, with every other error."""
    errors = errors_for("33", examiners=0, quality_supervisors=0, full_time_staff=1)
    assert sorted(fields(errors)) == ["examiners", "full_time_staff", "quality_supervisors"]
    assert any("at least 2 examiners, not 0" in reason for _, reason in errors)
    assert fields(errors_for("33", examiners=1)) == ["examiners"]
    assert errors_for("33", examiners=2, quality_supervisors=1) == []


def test_a_credit_code_registered_outside_the_province_is_refused() -> None:
    """L6(一): registered in the province: the credit code's division (positions 3-8)."""
    zhejiang_code = organization_application("33")["credit_code"]
    errors = errors_for("21", credit_code=zhejiang_code)
    assert fields(errors) == ["credit_code"]
    assert "330100" in errors[0][1] and "L6(一)" in errors[0][1]
    assert fields(errors_for("21", region="330106")) == ["region"]
    body = "91339900MA0000001"  # 339900 is no division of GB/T 2260
    assert fields(errors_for("33", credit_code=body + uscc.calc_check_digit(body))) == ["region"]
    assert errors_for("33", credit_code=body + uscc.calc_check_digit(body), region="330106") == []


def test_guangxi_sends_national_scope_applications_to_the_national_platform() -> None:
    errors = errors_for("45", evaluation_scope="national", years_of_evaluation=6)
    [reason] = [r for f, r in errors if f == "evaluation_scope"]
    assert "djsb.osta.org.cn" in reason


def test_an_applicant_cannot_choose_the_ministry_code_of_a_provincial_filing() -> None:
    """L附件6: positions 2-5 are 0000 for an organization the province files."""
    with pytest.raises(ValidationError, match="always 0000"):
        ApplicationCreate.model_validate(organization_application("33", national_code="0007"))
    assert ApplicationCreate.model_validate(organization_application("33", national_code="0000")).national_code == (
        "0000"
    )


def test_who_selects_and_who_acts() -> None:
    """L5: the province selects province-level bodies; the city the rest, its officials doing the steps to the
    report (Zhejiang's counties accept and pre-review), the province reviewing and filing."""
    zhejiang = policy_for("33")
    city_level = ApplicationCreate.model_validate(organization_application("33", admin_level="city"))
    assert selecting_region(city_level, "330106", policy=zhejiang) == "330100"
    province_level = ApplicationCreate.model_validate(organization_application("33"))
    assert selecting_region(province_level, "330106", policy=zhejiang) == "330000"

    def refusal(role: str, region: str, step: str, selected_by: str = "330100", policy: Any = zhejiang) -> str | None:
        return official_refusal(role=role, region=region, selected_by=selected_by, step=step, policy=policy)

    assert refusal("city_official", "330100", "technical_assessment") is None
    assert "330200" in (refusal("city_official", "330200", "accept") or "")
    assert "city's" in (refusal("province_official", "330000", "publicity") or "")
    assert refusal("province_official", "330000", "report_review") is None
    assert refusal("city_official", "330100", "report_review") is not None
    assert refusal("county_official", "330102", "accept") is None
    assert refusal("county_official", "330102", "technical_assessment") is not None
    assert refusal("county_official", "330203", "accept") is not None
    liaoning = policy_for("21")
    assert "counties do not" in (refusal("county_official", "210102", "accept", "210100", liaoning) or "")
    assert refusal("province_official", "330000", "accept", "330000") is None
    assert refusal("city_official", "330100", "accept", "330000") is not None


def test_required_materials_staff_and_lease() -> None:
    materials = [material("registration", "r.pdf"), material("site_proof", "s.pdf"), material("staff_roster", "t.pdf")]
    leased = [{"address": "杭州市人民路1号", "city": "杭州市", "ownership": "leased", "lease_years": 2, "area_m2": 800}]
    errors = errors_for("33", materials=materials, full_time_staff=2, sites=leased)
    assert sorted(fields(errors)) == ["full_time_staff", "materials", "sites.0.lease_years"]
    assert any("integrity_pledge" in reason for _, reason in errors)


# --- working days ----------------------------------------------------------------------------------------


def test_working_days_follow_the_official_calendar() -> None:
    assert not is_working_day(date(2026, 10, 1))  # National Day
    assert is_working_day(date(2026, 10, 10))  # a Saturday made a working day (调休)
    assert add_working_days(date(2026, 9, 30), 5) == date(2026, 10, 13)
    # Published the last working day before the holiday: five working days end after it.
    assert publicity_end(date(2026, 9, 30), 5) == date(2026, 10, 12)
    assert publicity_end(date(2026, 11, 23), 5) == date(2026, 11, 27)  # Monday to Friday


def test_a_year_the_calendar_does_not_know_counts_weekdays_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    year = max(chinese_calendar.constants.holidays).year + 1
    monday = date(year, 1, 11) - timedelta(days=date(year, 1, 11).weekday())
    workdays._warn_uncovered.cache_clear()
    assert is_working_day(monday) and not is_working_day(monday + timedelta(days=5))
    assert str(year) in caplog.text
