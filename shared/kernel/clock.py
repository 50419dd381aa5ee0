"""The one place that reads the date and the time of day.

Every service asks its `Clock` what today is. A training or demo deployment (`ADJUSTABLE_CLOCK`) may move a
province's clock on, so a walk-through passes a publicity period in seconds; the move is kept in one file per
province that all the province's services of a stack read, so they agree on the date. It never goes back.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel, Field

# China's one time zone: the day an official writes on a document.
CHINA = timezone(timedelta(hours=8))


def utcnow() -> datetime:
    return datetime.now(UTC)


class ClockMove(BaseModel):
    days: int = Field(ge=1, le=3660, description="how many days to move the province's date on")


class ClockReading(BaseModel):
    today: date
    offset_days: int


@dataclass
class Clock:
    """Today for one province. `offset_file` is shared by the province's services; None: the real date."""

    offset_file: Path | None = None

    @property
    def offset_days(self) -> int:
        if self.offset_file is None:
            return 0
        try:
            return int(self.offset_file.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def today(self) -> date:
        return date.today() + timedelta(days=self.offset_days)

    def reading(self) -> ClockReading:
        offset = self.offset_days
        return ClockReading(today=date.today() + timedelta(days=offset), offset_days=offset)

    def move_on(self, days: int) -> ClockReading:
        """Adds `days` under a file lock, so two moves at once both count."""
        if self.offset_file is None:
            raise RuntimeError("this clock cannot move: the deployment has no adjustable clock")
        if days < 1:
            raise ValueError("the clock only moves on")
        self.offset_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.offset_file.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            offset = self.offset_days + days
            staged = self.offset_file.with_suffix(".new")
            staged.write_text(str(offset))
            os.replace(staged, self.offset_file)
        return self.reading()
