"""Input shapes that are refused before any rule of the policy is looked at."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from infra.walkthrough import batch_plan, credit_code, organization_application, resident_id
from services.recognition.models import BatchCreate
from services.registry.models import ApplicationCreate
from shared.kernel.privacy import mask_id_number

LATHE = {
    "occupation_code": "6-18-01-01",
    "occupation_name": "车工",
    "levels": [5],
    "standard": "车工标准",
    "person_times": 100,
}


def application(**changes: Any) -> dict[str, Any]:
    return {**organization_application("33"), **changes}


def test_valid_application_is_accepted() -> None:
    assert ApplicationCreate.model_validate(application()).credit_code == credit_code("33", 1)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"credit_code": credit_code("33", 1)[:-1] + ("0" if credit_code("33", 1)[-1] != "0" else "1")}, "credit_code"),
        ({"kind": "guild"}, "kind"),
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"national_code": "12"}, "national_code"),
        ({"occupations": [LATHE] * 2}, "occupations"),
        ({"occupations": [{**LATHE, "levels": [5, 5]}]}, "occupations"),
        ({"occupations": [{**LATHE, "occupation_code": "61801"}]}, "occupation_code"),
        ({"occupations": [{**LATHE, "levels": [7]}]}, "levels"),
        ({"occupations": [{**LATHE, "person_times": -1}]}, "person_times"),
        ({"occupations": []}, "occupations"),
        ({"sites": []}, "sites"),
        ({"materials": [{"kind": "registration", "file_ref": "x.pdf", "sha256": "not-a-digest"}]}, "sha256"),
    ],
)
def test_bad_applications_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as error:
        ApplicationCreate.model_validate(application(**changes))
    assert any(field in ".".join(str(p) for p in e["loc"]) for e in error.value.errors())


def test_candidate_and_staff_id_check_digit() -> None:
    plan = batch_plan("S000033000001", "33", candidates=2)
    assert len(BatchCreate.model_validate(plan).candidates) == 2
    wrong_digit = resident_id("33", 1)[:-1] + ("0" if resident_id("33", 1)[-1] != "0" else "1")
    bad = {**plan, "candidates": [{**plan["candidates"][0], "id_number": wrong_digit}]}
    with pytest.raises(ValidationError, match="resident identity card"):
        BatchCreate.model_validate(bad)
    examiner = {**plan["staff"][0], "id_number": wrong_digit}
    with pytest.raises(ValidationError, match="resident identity card"):
        BatchCreate.model_validate({**plan, "staff": [examiner, *plan["staff"][1:]]})


def test_masking_keeps_region_and_last_four() -> None:
    assert mask_id_number("33010619900101123X") == "330106********123X"


def test_batch_occupation_code_form() -> None:
    plan = {**batch_plan("S000033000001", "33"), "occupation_code": "6-18-1-1"}
    with pytest.raises(ValidationError, match="occupation_code"):
        BatchCreate.model_validate(plan)
