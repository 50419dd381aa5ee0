"""Organization filing codes and certificate numbers by the national rule.

职业技能等级证书编码规则(试行), 人社鉴发〔2019〕2号 (Liaoning workflow 附件6): 22 characters, one capital letter
and 21 digits, no check digit. Positions 1-13 are the organization's filing code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# GB/T 2260 province-level prefixes.
PROVINCE_CODES: dict[str, str] = {
    "11": "北京",
    "12": "天津",
    "13": "河北",
    "14": "山西",
    "15": "内蒙古",
    "21": "辽宁",
    "22": "吉林",
    "23": "黑龙江",
    "31": "上海",
    "32": "江苏",
    "33": "浙江",
    "34": "安徽",
    "35": "福建",
    "36": "江西",
    "37": "山东",
    "41": "河南",
    "42": "湖北",
    "43": "湖南",
    "44": "广东",
    "45": "广西",
    "46": "海南",
    "50": "重庆",
    "51": "四川",
    "52": "贵州",
    "53": "云南",
    "54": "西藏",
    "61": "陕西",
    "62": "甘肃",
    "63": "青海",
    "64": "宁夏",
    "65": "新疆",
    "71": "台湾",
    "81": "香港",
    "82": "澳门",
}

ORGANIZATION_TYPES = {"Y": "用人单位", "S": "社会培训评价组织"}
PROVINCIAL_NATIONAL_CODE = "0000"
MAX_SEQUENCE = 999_999
MAX_SERIAL = 999_999


class Level(IntEnum):
    """The five national levels; the digit is position 16 of a certificate number."""

    ONE = 1
    TWO = 2
    THREE = 3
    FOUR = 4
    FIVE = 5

    @property
    def title(self) -> str:
        """As written on the certificate, e.g. 一级/高级技师."""
        return LEVEL_TITLES[self]


LEVEL_TITLES = {
    Level.ONE: "一级/高级技师",
    Level.TWO: "二级/技师",
    Level.THREE: "三级/高级工",
    Level.FOUR: "四级/中级工",
    Level.FIVE: "五级/初级工",
}

_FILING_CODE = re.compile(r"^(?P<type>[SY])(?P<national>\d{4})(?P<province>\d{2})(?P<sequence>\d{6})$")
_CERTIFICATE = re.compile(r"([SY])(\d{4})(\d{2})(\d{6})(\d{2})(\d)(\d{6})")  # filing code, year, level, serial
_LEGACY = re.compile(r"^\d{16}$")


class NumberError(ValueError):
    """A code or number that breaks the national rule; the message names the position and the reason."""


@dataclass(frozen=True)
class FilingCode:
    org_type: str
    national_code: str
    province: str
    sequence: int

    def __post_init__(self) -> None:
        if self.org_type not in ORGANIZATION_TYPES:
            raise NumberError("position 1 (organization type) must be Y (employer) or S (social organization)")
        if len(self.national_code) != 4 or not self.national_code.isdigit():
            raise NumberError("positions 2-5 (ministry code) must be 4 digits, 0000 for provincial filing")
        if self.province not in PROVINCE_CODES:
            raise NumberError(f"positions 6-7 ({self.province}) are not a GB/T 2260 province code")
        if not 1 <= self.sequence <= MAX_SEQUENCE:
            raise NumberError("positions 8-13 (organization sequence) must be 000001-999999")

    def __str__(self) -> str:
        return f"{self.org_type}{self.national_code}{self.province}{self.sequence:06d}"

    @classmethod
    def parse(cls, text: str) -> FilingCode:
        match = _FILING_CODE.match(text.strip().upper())
        if not match:
            raise NumberError(
                "a filing code is 13 characters: S or Y, 4-digit ministry code, 2-digit province, 6-digit sequence"
            )
        return cls(match["type"], match["national"], match["province"], int(match["sequence"]))


@dataclass(frozen=True)
class CertificateNumber:
    organization: FilingCode
    year: int  # two digits, 0-99
    level: Level
    serial: int

    def __post_init__(self) -> None:
        if not 0 <= self.year <= 99:
            raise NumberError("positions 14-15 (year of issue) must be two digits")
        if not 1 <= self.serial <= MAX_SERIAL:
            raise NumberError("positions 17-22 (certificate serial) must be 000001-999999")

    def __str__(self) -> str:
        return f"{self.organization}{self.year:02d}{int(self.level)}{self.serial:06d}"

    @property
    def province(self) -> str:
        return self.organization.province

    @classmethod
    def parse(cls, text: str) -> CertificateNumber:
        # One match for all the parts: the public lookup parses every number it is asked for.
        match = _CERTIFICATE.fullmatch(text.strip().upper())
        if not match:
            raise NumberError("a certificate number is 22 characters: S or Y and 21 digits")
        org_type, national_code, province, sequence, year, level, serial = match.groups()
        if int(level) not in Level._value2member_map_:
            raise NumberError("position 16 (level) must be 1-5")
        return cls(
            FilingCode(org_type, national_code, province, int(sequence)), int(year), Level(int(level)), int(serial)
        )


class LegacyNumber(NumberError):
    """A 16-digit 职业资格证书 number: accepted in lookups, but not one this system issues."""


def parse_lookup(text: str) -> CertificateNumber:
    """A number typed into a lookup. Raises LegacyNumber for a legacy number, NumberError for anything else."""
    if is_legacy_number(text):
        raise LegacyNumber(f"{text.strip()} is a legacy 职业资格证书 number (16 digits); none is on record here")
    return CertificateNumber.parse(text)


def is_legacy_number(text: str) -> bool:
    """Legacy 职业资格证书 numbers are 16 digits; lookups accept them."""
    return bool(_LEGACY.match(text.strip()))
