"""The training clock's file, and how consumers are declared and named."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.kernel.clock import Clock
from shared.kernel.events import ORGANIZATION_FILED, SANCTION_IMPOSED, Envelope
from shared.platform.bus import Consumer, group_id


def test_moves_at_once_all_count_and_the_clock_never_goes_back(tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock" / "33.days")
    assert clock.offset_days == 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: clock.move_on(1), range(40)))
    assert clock.offset_days == 40
    # Another service of the province reads the same file.
    assert Clock(tmp_path / "clock" / "33.days").today() == Clock().today() + timedelta(days=40)
    with pytest.raises(ValueError, match="only moves on"):
        clock.move_on(-1)
    with pytest.raises(RuntimeError, match="cannot move"):
        Clock().move_on(1)


def test_a_contract_has_one_handler_per_consumer() -> None:
    consumer: Consumer[Any] = Consumer("registry")

    @consumer.on(SANCTION_IMPOSED)
    def first(_unit: Any, _event: Envelope[Any]) -> None: ...

    with pytest.raises(ValueError, match="already consumes supervision.sanction-imposed"):

        @consumer.on(SANCTION_IMPOSED)
        def second(_unit: Any, _event: Envelope[Any]) -> None: ...

    assert consumer.contracts == [SANCTION_IMPOSED]


def test_one_rule_names_every_consumer_group() -> None:
    assert group_id(root="skillcert", province="33", consumer="certificates", contract=ORGANIZATION_FILED) == (
        "skillcert-33-certificates-organization-filed"
    )
    # Another environment on the same cluster gets groups of its own.
    assert group_id(root="training", province="33", consumer="certificates", contract=ORGANIZATION_FILED) != (
        group_id(root="skillcert", province="33", consumer="certificates", contract=ORGANIZATION_FILED)
    )
