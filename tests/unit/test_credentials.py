"""Salts and claim hashes of the credential (shared.kernel.credentials)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from shared.kernel import credentials


def test_each_claim_gets_its_own_128_bit_salt() -> None:
    salts = credentials.new_salts(["holderName", "idNumber", "level"])
    assert list(salts) == ["holderName", "idNumber", "level"]
    assert all(len(salt) == 32 and int(salt, 16) >= 0 for salt in salts.values())
    assert len(set(salts.values()) | set(credentials.new_salts(["holderName"]).values())) == 4


@pytest.mark.parametrize(
    "value",
    [
        "张三",
        'a "quoted" \\ back\\slash',
        "line\nbreak\t\x01",
        "阿依古丽·买买提",
        "李𠮷",
        "",
        0,
        4,
        -17,
        2**70,
        True,
        None,
        1.5,
        ["a", 1],
        {"b": 1, "a": [True, None]},
    ],
)
def test_a_claims_hash_is_of_the_canonical_json_of_name_value_and_salt(value: Any) -> None:
    salt = credentials.new_salts(["x"])["x"]
    expected = hashlib.sha256(credentials.canonical_json(["holderName", value, salt])).hexdigest()
    assert credentials.claim_hash("holderName", value, salt) == expected
    assert (
        credentials.canonical_json(["名", value])
        == json.dumps(["名", value], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
