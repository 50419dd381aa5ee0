"""The national certificate coding rule (人社鉴发〔2019〕2号) and filing codes."""

from __future__ import annotations

import pytest

from shared.kernel.numbering import CertificateNumber, FilingCode, Level, NumberError, is_legacy_number


def test_certificate_number_positions_follow_the_rule() -> None:
    # Employer, ministry code 0001, province 23, sequence 000045, issued 2019, level 5, serial 1.
    number = CertificateNumber.parse("Y000123000045195000001")
    assert number.organization == FilingCode("Y", "0001", "23", 45)
    assert (number.year, number.level, number.serial) == (19, Level.FIVE, 1)
    assert number.province == "23"
    assert str(number) == "Y000123000045195000001"
    assert len(str(number)) == 22


def test_provincial_filing_code_uses_0000() -> None:
    code = FilingCode("S", "0000", "33", 1)
    assert str(code) == "S000033000001"
    assert FilingCode.parse("s000033000001") == code


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Y00012300004519500000", "22 characters"),  # 21 characters
        ("X000123000045195000001", "22 characters"),  # type letter
        ("Y000123000045190000001", "level"),  # level 0
        ("Y000123000045196000001", "level"),  # level 6
        ("Y000123000045195000000", "serial"),  # serial 000000
        ("Y000199000045195000001", "province"),  # 99 is no province
        ("Y000123000000195000001", "sequence"),  # sequence 000000
    ],
)
def test_broken_numbers_are_refused_with_the_position(text: str, reason: str) -> None:
    with pytest.raises(NumberError, match=reason):
        CertificateNumber.parse(text)


def test_serial_and_year_bounds_when_formatting() -> None:
    code = FilingCode("S", "0000", "33", 1)
    with pytest.raises(NumberError, match="serial"):
        CertificateNumber(code, 26, Level.FOUR, 1_000_000)
    with pytest.raises(NumberError, match="year"):
        CertificateNumber(code, 100, Level.FOUR, 1)


def test_legacy_numbers_are_16_digits() -> None:
    assert is_legacy_number("1234567890123456")
    assert not is_legacy_number("123456789012345")
    assert not is_legacy_number("S000033000001264000001")


def test_level_titles_as_printed() -> None:
    assert [level.title for level in sorted(Level)] == [
        "一级/高级技师",
        "二级/技师",
        "三级/高级工",
        "四级/中级工",
        "五级/初级工",
    ]
