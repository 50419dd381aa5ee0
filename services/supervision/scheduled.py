"""Supervision's scheduled work: none yet (random inspection draws come with the supervision issues)."""

from __future__ import annotations

from shared.platform.runtime import Runtime

from .settings import SupervisionSettings


def start(runtime: Runtime[SupervisionSettings]) -> None:
    """Nothing runs on a schedule yet."""
