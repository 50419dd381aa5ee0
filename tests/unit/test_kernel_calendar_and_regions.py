"""The statutory holidays of a year the official arrangement does not cover yet; GB/T 2260 divisions past and
present; resident ID numbers as GB 11643 lets a system check them."""

from __future__ import annotations

from datetime import date

import chinese_calendar
import pytest

from shared.kernel.identity import RESIDENT_ID_CARD, valid_id_number
from shared.kernel.regions import RegionLevel, city_of, region_exists, region_level, region_name, within
from shared.kernel.workdays import add_working_days, arrangement_known, is_working_day, statutory_holidays


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_statutory_holidays_computed_are_holidays_in_the_official_arrangement(year: int) -> None:
    """全国年节及纪念日放假办法's 13 days, the lunar ones and 清明 computed, agree with the State Council's
    arrangement of the years chinesecalendar knows."""
    holidays = statutory_holidays(year)
    assert len(holidays) == 13
    assert all(chinese_calendar.is_holiday(day) for day in holidays)


def test_a_year_without_an_arrangement_keeps_its_statutory_holidays_off() -> None:
    assert not arrangement_known(2027)
    # 春节 2027: 除夕 5 February (a Friday) to 初三 8 February (a Monday).
    assert {date(2027, 2, 5), date(2027, 2, 8)} <= statutory_holidays(2027)
    assert not is_working_day(date(2027, 2, 8)) and not is_working_day(date(2027, 6, 9))  # 春节, 端午 (Wednesday)
    assert is_working_day(date(2027, 2, 9))
    # Five working days from Thursday 4 February skip the holiday: 9, 10, 11, 12 and Monday 15 February.
    assert add_working_days(date(2027, 2, 4), 5) == date(2027, 2, 15)


def test_divisions_past_and_present() -> None:
    assert region_name("330106") == "西湖区" and region_name("210200") == "大连市"  # once 旅大市
    assert region_exists("110103")  # 崇文区, merged away in 2010
    assert not region_exists("339900") and not region_exists("33010")
    assert region_level("330000") is RegionLevel.PROVINCE and region_level("330100") is RegionLevel.CITY
    assert city_of("330106") == "330100" and within("330106", "330100") and not within("330206", "330100")
    assert within("330206", "330000")


def test_an_id_number_of_a_county_coded_after_the_birth_is_valid() -> None:
    """西湖区 330106 dates from 1983; a resident born there in 1970 holds a 330106 number."""
    assert valid_id_number(RESIDENT_ID_CARD, "330106197003120254") == "330106197003120254"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("330106197003120255", "check digit"),
        ("990106197003120254"[:17] + "X", "check digit"),
        ("33010619700312025", "18 characters"),
    ],
)
def test_an_id_number_is_refused_with_its_reason(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        valid_id_number(RESIDENT_ID_CARD, number)


def _with_check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


@pytest.mark.parametrize(
    ("first17", "reason"),
    [
        ("99010619700312025", "no GB/T 2260 division"),
        ("33010620990312025", "birth date"),
        ("33010619701332025", "not a date"),
    ],
)
def test_a_number_with_a_right_check_digit_still_needs_a_region_and_a_possible_birth(first17: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        valid_id_number(RESIDENT_ID_CARD, _with_check_digit(first17))
