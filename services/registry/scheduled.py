"""Registry's scheduled work: filings whose validity ended expire, at start and then periodically."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shared.platform.runtime import Runtime

from . import service
from .settings import RegistrySettings

log = logging.getLogger(__name__)


def expire_once(runtime: Runtime[RegistrySettings]) -> list[str]:
    """One expiry run in its own transaction, by the service's clock; the filing codes it expired."""
    with runtime.unit_of_change() as unit:
        return service.expire_due(unit=unit)


async def expire_periodically(runtime: Runtime[RegistrySettings]) -> None:
    while True:
        try:
            expired = await asyncio.to_thread(expire_once, runtime)
            if expired:
                log.info("expired filings: %s", ", ".join(expired))
                runtime.wake_relay()
        except Exception:
            log.exception("expiry run failed; retrying at the next run")
        await asyncio.sleep(runtime.settings.expiry_check_seconds)


def start(runtime: Runtime[RegistrySettings]) -> None:
    """Runs the expiry loop while the service runs."""
    tasks: list[asyncio.Task[None]] = []

    def begin() -> None:
        tasks.append(asyncio.create_task(expire_periodically(runtime), name="filing-expiry"))

    async def end() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    runtime.on_start.append(begin)
    runtime.on_stop.append(end)
