"""Identifiers of people and legal entities, validated the one way every service validates them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from stdnum.cn import ric, uscc

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
        try:
            return str(ric.validate(id_number))
        except Exception as error:
            raise ValueError(f"not a valid resident identity card number: {error}") from error
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
