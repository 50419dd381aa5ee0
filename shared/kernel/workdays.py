"""Working days by the official calendar: public holidays and their make-up working days (调休).

chinesecalendar carries the State Council's arrangements year by year. For a year it does not cover yet
(the arrangement is published each November or December), the statutory holidays of 全国年节及纪念日放假办法
(2024 revision, from 2025) are off and Monday to Friday otherwise count; the make-up days (调休) and the
bridging days are not known until the arrangement is out, so a date counted in such a year is provisional:
`arrangement_known` says so, and `/readyz` of every service shows the last year covered. Update the pinned
chinesecalendar when the new year's arrangement is out.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cache
from typing import Any

import chinese_calendar
from lunar_python import Lunar

log = logging.getLogger(__name__)


@cache
def arrangement_known(year: int) -> bool:
    """Whether the State Council's holiday arrangement of `year` (with its make-up days) is known here."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def last_year_known(today: date) -> int:
    """The last year whose arrangement is known, from this year on (a year before it if none is)."""
    year = today.year
    while arrangement_known(year + 1):
        year += 1
    return year if arrangement_known(year) else year - 1


@cache
def statutory_holidays(year: int) -> frozenset[date]:
    """全国年节及纪念日放假办法 第二条: 元旦 1 day, 春节 4 (除夕 and 正月初一 to 初三), 清明 1, 劳动节 2 (1-2 May),
    端午 1 (五月初五), 中秋 1 (八月十五), 国庆 3 (1-3 October); the lunar days and 清明 computed."""
    spring = _solar(Lunar.fromYmd(year, 1, 1))
    qingming = _solar(Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"])
    return frozenset(
        {
            date(year, 1, 1),
            *(spring + timedelta(days=offset) for offset in (-1, 0, 1, 2)),
            qingming,
            date(year, 5, 1),
            date(year, 5, 2),
            _solar(Lunar.fromYmd(year, 5, 5)),
            _solar(Lunar.fromYmd(year, 8, 15)),
            date(year, 10, 1),
            date(year, 10, 2),
            date(year, 10, 3),
        }
    )


def _solar(day: Any) -> date:
    solar = day.getSolar() if hasattr(day, "getSolar") else day  # a lunar day, or a solar term's day
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


@cache
def _warn_uncovered(year: int) -> None:
    log.warning(
        "chinesecalendar has no holiday arrangement for %s: counting the statutory holidays and Monday to Friday, "
        "make-up days unknown; upgrade the pinned chinesecalendar",
        year,
    )


def is_working_day(day: date) -> bool:
    if arrangement_known(day.year):
        return bool(chinese_calendar.is_workday(day))
    _warn_uncovered(day.year)
    return day.weekday() < 5 and day not in statutory_holidays(day.year)


def add_working_days(start: date, count: int) -> date:
    """The `count`-th working day after `start` (the day itself not counted)."""
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end`."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count


def publicity_end(published_on: date, working_days: int) -> date:
    """The last day of a publicity of `working_days` working days, counting the publication day if it is one."""
    start = published_on if is_working_day(published_on) else add_working_days(published_on, 1)
    return add_working_days(start, working_days - 1)


def add_years(day: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
