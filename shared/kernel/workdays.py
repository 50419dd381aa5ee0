"""Working days by the official calendar: public holidays and their make-up working days (调休).

chinesecalendar carries the State Council's arrangements year by year. For a year it does not cover yet
(the arrangement is published each November or December), weekdays count as working days; update the
pinned chinesecalendar when the new year's arrangement is out.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from functools import cache

import chinese_calendar

log = logging.getLogger(__name__)


@cache
def _warn_uncovered(year: int) -> None:
    log.warning(
        "chinesecalendar has no holiday arrangement for %s: counting Monday to Friday; "
        "upgrade the pinned chinesecalendar",
        year,
    )


def is_working_day(day: date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5


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
