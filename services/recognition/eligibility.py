"""Who may sit a level: the national occupational standards' application conditions (申报条件).

The standards share one template (国家职业技能标准编制技术规程, 2018): a level below 5 is reached from the
next lower level's certificate plus years in the occupation, or (levels 4 and 3) from years alone. An
occupation's own standard may differ; these are the template's figures. Competition winners and
technical-school students are recognised directly [L18(四), S一] and are judged on their own facts.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE = "国家职业技能标准编制技术规程(2018年版) 申报条件"


@dataclass(frozen=True)
class Condition:
    years_with_prior: int | None  # years in the occupation after the next lower level's certificate
    years_without_prior: int | None  # years in the occupation with no certificate; None: a certificate is required


CONDITIONS: dict[int, Condition] = {
    5: Condition(years_with_prior=None, years_without_prior=1),
    4: Condition(years_with_prior=4, years_without_prior=6),
    3: Condition(years_with_prior=5, years_without_prior=10),
    2: Condition(years_with_prior=4, years_without_prior=None),
    1: Condition(years_with_prior=4, years_without_prior=None),
}


@dataclass(frozen=True)
class PriorCertificate:
    """What the shared query service says of a certificate a candidate claims, checked against its holder."""

    number: str
    found: bool
    held_by_candidate: bool = False
    level: int | None = None
    occupation_code: str | None = None
    status: str | None = None


def refusal(*, level: int, occupation_code: str, years_of_work: int, prior: PriorCertificate | None) -> str | None:
    """Why a candidate may not sit `level`, or None."""
    condition = CONDITIONS[level]
    if prior is not None:
        if not prior.found:
            return f"certificate {prior.number} is not on record in any province"
        if not prior.held_by_candidate:
            return f"certificate {prior.number} is not held by this candidate (name and ID number)"
        if prior.status != "valid":
            return f"certificate {prior.number} is {prior.status}"
        if prior.level != level + 1 or prior.occupation_code != occupation_code:
            return (f"certificate {prior.number} is level {prior.level} of {prior.occupation_code}; level {level} "
                    f"needs level {level + 1} of {occupation_code} [{SOURCE}]")
        if condition.years_with_prior is not None and years_of_work < condition.years_with_prior:
            return (f"level {level} needs {condition.years_with_prior}+ years in the occupation after the level "
                    f"{level + 1} certificate, not {years_of_work} [{SOURCE}]")
        return None
    if condition.years_without_prior is None:
        return f"level {level} needs a level {level + 1} certificate of {occupation_code} [{SOURCE}]"
    if years_of_work < condition.years_without_prior:
        return (f"level {level} needs {condition.years_without_prior}+ years in the occupation (or a level "
                f"{level + 1} certificate), not {years_of_work} [{SOURCE}]" if level < 5 else
                f"level 5 needs {condition.years_without_prior}+ year in the occupation, not {years_of_work} "
                f"[{SOURCE}]")
    return None
