"""The bundled catalogue of occupations (职业分类大典 codes) with their kind and the levels of their standard."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

CATALOGUE_FILE = Path(__file__).parent / "data" / "occupations.toml"


class Occupation(BaseModel):
    code: str = Field(pattern=r"^\d-\d{2}-\d{2}-\d{2}$")
    name: str
    kind: Literal["skill", "access"]  # 技能类 may be recognised; 准入类 are excluded [L12, G一(二)]
    levels: list[int] = Field(min_length=1, description="national levels (1-5) its standard defines")
    work_types: list[str] = Field(default_factory=list)


@cache
def occupation_catalogue(path: Path = CATALOGUE_FILE) -> dict[str, Occupation]:
    with path.open("rb") as file:
        entries = tomllib.load(file)["occupation"]
    return {entry["code"]: Occupation.model_validate(entry) for entry in entries}
