"""Identifiers of people and legal entities, validated the one way every service validates them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from stdnum.cn import ric, uscc

from shared.kernel.clock import CHINA
from shared.kernel.regions import region_exists

RESIDENT_ID_CARD = "居民身份证"
ID_TYPES = (
    RESIDENT_ID_CARD,
    "港澳居民居住证",
    "台湾居民居住证",
    "外国人永久居留身份证",
    "护照",
    "港澳居民来往内地通行证",
    "台湾居民来往大陆通行证",
)


def valid_id_type(id_type: str) -> str:
    if id_type not in ID_TYPES:
        raise ValueError(f"must be one of {', '.join(ID_TYPES)}")
    return id_type


def valid_id_number(id_type: str, id_number: str) -> str:
    """The ID number, normalised; a resident identity card number must pass its check digit (GB 11643)."""
    if id_type == RESIDENT_ID_CARD:
        return _valid_resident_id(id_number)
    return id_number.strip().upper()


def _valid_resident_id(value: str) -> str:
    """What GB 11643 lets a system check: 18 characters, the check digit, a birth date that is a real day and
    not in the future, and a region code that exists or existed in GB/T 2260. Not whether the region had that
    code on the birth day: a person keeps the number of a county renamed later (330106 西湖区 dates from 1983;
    its residents born in 1970 hold 330106 numbers)."""
    number = ric.compact(value)
    if len(number) != 18 or not number[:17].isdigit():
        raise ValueError("not a valid resident identity card number: 18 characters, the first 17 digits")
    if ric.calc_check_digit(number) != number[-1]:
        raise ValueError("not a valid resident identity card number: the check digit (18th character) is wrong")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as error:
        raise ValueError("not a valid resident identity card number: positions 7-14 are not a date") from error
    if born > datetime.now(CHINA).date() or born.year < 1880:
        raise ValueError("not a valid resident identity card number: the birth date (positions 7-14) is impossible")
    if not region_exists(number[:6]):
        raise ValueError(
            "not a valid resident identity card number: positions 1-6 are no GB/T 2260 division, past or present"
        )
    return number


def normal_id_number(id_type: str, id_number: str) -> str:
    """An ID number as kept for matching (a replica's entry against a form's): the validated form, or the number
    as given, trimmed and upper-cased, when it does not parse."""
    try:
        return valid_id_number(id_type, id_number)
    except ValueError:
        return id_number.strip().upper()


def valid_credit_code(value: str) -> str:
    """A unified social credit code (统一社会信用代码, GB 32100), check character included."""
    try:
        return str(uscc.validate(value))
    except Exception as error:
        raise ValueError(f"not a valid unified social credit code: {error}") from error


def id_number_checked_by(type_field: str) -> AfterValidator:
    """A model field's validator: the ID number checked against the ID type given in `type_field` before it."""

    def check(value: str, info: ValidationInfo) -> str:
        return valid_id_number(info.data.get(type_field, RESIDENT_ID_CARD), value)

    return AfterValidator(check)


# Field types for models: validated the one way, whichever service takes them.
IdType = Annotated[str, AfterValidator(valid_id_type)]
IdNumber = Annotated[str, id_number_checked_by("id_type")]
CreditCode = Annotated[str, AfterValidator(valid_credit_code)]
