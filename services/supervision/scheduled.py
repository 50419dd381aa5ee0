"""Supervision's scheduled work: rectification deadlines that passed become overdue cases [L28], and from January
the past year's star rating is made once [Z五(五)]; at start and then periodically, by the service's clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared.platform.runtime import Runtime

from . import service
from .settings import SupervisionSettings

log = logging.getLogger(__name__)


def run_once(runtime: Runtime[SupervisionSettings]) -> tuple[list[str], int]:
    """One run in its own transaction: the cases made overdue, and how many organizations were rated."""
    with runtime.unit_of_change() as unit:
        return service.mark_overdue(unit=unit), service.rate_last_year_once(unit=unit)


async def run_periodically(runtime: Runtime[SupervisionSettings]) -> None:
    while True:
        try:
            overdue, rated = await asyncio.to_thread(run_once, runtime)
            if overdue or rated:
                log.info("overdue cases: %s; organizations rated: %d", ", ".join(overdue) or "none", rated)
                runtime.wake_relay()
        except Exception:
            log.exception("supervision's scheduled run failed; retrying at the next run")
        await asyncio.sleep(runtime.settings.deadline_check_seconds)


def start(runtime: Runtime[SupervisionSettings]) -> None:
    """Runs the deadline and rating loop while the service runs."""
    tasks: list[asyncio.Task[None]] = []

    def begin() -> None:
        tasks.append(asyncio.create_task(run_periodically(runtime), name="supervision-deadlines"))

    async def end() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    runtime.on_start.append(begin)
    runtime.on_stop.append(end)
