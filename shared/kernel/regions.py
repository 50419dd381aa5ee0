"""Administrative divisions by their GB/T 2260 codes: province `330000`, city `330100`, county `330106`.

The codes, and the names each had, come from python-stdnum's table of every code issued since 1980
(`stdnum/cn/loc.dat`), so a division that was renamed or merged away is still known. Jurisdiction is a prefix:
an official of `330100` acts on what lies in 杭州市, an official of `330000` on the whole province.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from typing import Annotated

from pydantic import AfterValidator
from stdnum import numdb

REGION_PATTERN = r"^\d{6}$"
_PERIOD = re.compile(r"^\[[^\]]*\]")


class RegionLevel(StrEnum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


@cache
def _divisions() -> numdb.NumDB:
    return numdb.get("cn/loc")


def region_name(code: str) -> str | None:
    """The division's name (its latest, without the years it held), or None if GB/T 2260 never had it."""
    if not re.fullmatch(REGION_PATTERN, code):
        return None
    parts = _divisions().info(code)
    if len(parts) != 2 or not parts[1][1]:
        return None
    # "旅大市,[1981-]大连市": the names it had, the latest last.
    return _PERIOD.sub("", parts[1][1].get("county", "").split(",")[-1]) or None


def region_exists(code: str) -> bool:
    """Whether GB/T 2260 has or had this code, at any time since 1980."""
    return region_name(code) is not None


def region_level(code: str) -> RegionLevel:
    if code[2:] == "0000":
        return RegionLevel.PROVINCE
    if code[4:] == "00":
        return RegionLevel.CITY
    return RegionLevel.COUNTY


def province_of(code: str) -> str:
    """The two-digit province code (the policy's `code`)."""
    return code[:2]


def province_region(province: str) -> str:
    return f"{province}0000"


def city_of(code: str) -> str:
    """The city a county lies in (a city is its own); a province has no city and stays itself."""
    if region_level(code) is RegionLevel.PROVINCE:
        return code
    return f"{code[:4]}00"


def within(code: str, area: str) -> bool:
    """Whether division `code` lies in `area` (an area contains itself)."""
    level = region_level(area)
    if level is RegionLevel.PROVINCE:
        return code[:2] == area[:2]
    if level is RegionLevel.CITY:
        return code[:4] == area[:4]
    return code == area


def valid_region(code: str) -> str:
    """A model field's validator: a GB/T 2260 code that exists or existed."""
    if not region_exists(code):
        raise ValueError("not a GB/T 2260 administrative division code (6 digits, as 330106)")
    return code


# A model field of a division's code, validated the one way.
Region = Annotated[str, AfterValidator(valid_region)]
