"""Gap-free counters: filing sequences and certificate serials, under concurrency and across restarts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlmodel import Session, SQLModel

from shared.platform.db import make_engine
from shared.platform.sequences import SequenceCounter, SequenceExhausted, next_value


def engine_for(url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine, tables=[SequenceCounter.__table__])  # type: ignore[attr-defined]
    return engine


def allocate(engine: Any, name: str, maximum: int = 999_999, commit: bool = True) -> int:
    with Session(engine) as session:
        value = next_value(session, name, maximum=maximum)
        if commit:
            session.commit()
        else:
            session.rollback()
        return value


def test_counts_per_name_and_continues_after_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'seq.db'}"
    engine = engine_for(url)
    assert [allocate(engine, "a") for _ in range(3)] == [1, 2, 3]
    assert allocate(engine, "b") == 1
    engine.dispose()
    assert allocate(engine_for(url), "a") == 4  # a new process continues from the stored value


def test_rolled_back_allocation_leaves_no_gap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for(f"sqlite:///{tmp_path / 'seq.db'}")
    assert allocate(engine, "a") == 1
    assert allocate(engine, "a", commit=False) == 2
    assert allocate(engine, "a") == 2


def test_exhaustion_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = engine_for(f"sqlite:///{tmp_path / 'seq.db'}")
    assert [allocate(engine, "a", maximum=2) for _ in range(2)] == [1, 2]
    with pytest.raises(SequenceExhausted, match="sequence a has used all 2"):
        allocate(engine, "a", maximum=2)


def test_concurrent_allocations_are_unique_and_gap_free(database_url_factory: Any) -> None:
    engine = engine_for(database_url_factory("sequences"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(lambda _: allocate(engine, "serial:S000033000001:26:4"), range(200)))
    assert sorted(values) == list(range(1, 201))
