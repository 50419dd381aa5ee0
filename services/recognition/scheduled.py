"""Recognition's scheduled work: none yet. A late report is marked when it comes [L22]; reminders of reports
due would start here."""

from __future__ import annotations

from shared.platform.runtime import Runtime

from .settings import RecognitionSettings


def start(runtime: Runtime[RecognitionSettings]) -> None:
    """Nothing runs on a schedule yet."""
