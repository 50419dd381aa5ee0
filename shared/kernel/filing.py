"""The filing rule: may an organization recognise an occupation and level on a day, and what its filing
history in date order makes of it. Used by recognition's and supervision's replicas, certificates'
verification and the public query's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from shared.kernel.errors import FieldError
from shared.kernel.events import ScopeItem


@dataclass(frozen=True)
class FilingState:
    """An organization's filing at one moment: its standing, validity and filed scope."""

    filing_code: str
    status: str
    filed_on: date
    valid_until: date
    scope: Sequence[dict[str, Any]]

    def scope_items(self) -> list[ScopeItem]:
        return [ScopeItem.model_validate(item) for item in self.scope]

    def scope_error(self, *, occupation_code: str, level: int, on: date) -> FieldError | None:
        """None if the organization may recognise this occupation and level on that day, else why not."""
        if self.status != "filed":
            return FieldError(
                "organization_code",
                f"organization {self.filing_code} is {self.status}; "
                "only a filed organization in good standing may recognise [G四(二)]",
            )
        if not self.filed_on <= on <= self.valid_until:
            return FieldError(
                "organization_code",
                f"filing of {self.filing_code} is not valid on {on} (valid {self.filed_on} to {self.valid_until})",
            )
        items = [item for item in self.scope_items() if item.occupation_code == occupation_code]
        if not items:
            return FieldError(
                "occupation_code", f"occupation {occupation_code} is outside the filed scope of {self.filing_code}"
            )
        if not any(level in item.levels for item in items):
            allowed = sorted({lv for item in items for lv in item.levels})
            return FieldError(
                "level",
                f"level {level} is outside the filed scope of {self.filing_code} for "
                f"{occupation_code} (filed levels: {allowed})",
            )
        return None


class FilingStep(Protocol):
    """One step of an organization's filing history: `filed`, a `status` change or a `scope` change."""

    effective_on: date
    kind: str
    status: str | None
    scope: list[dict[str, Any]] | None
    filed_on: date | None
    valid_until: date | None


def replay_filing(steps: Iterable[FilingStep], organization_code: str, until: date | None = None) -> FilingState | None:
    """The organization's filing as its history in date order makes it (up to `until`); None: not filed."""
    state: FilingState | None = None
    for step in steps:
        if until is not None and step.effective_on > until:
            break
        if step.kind == "filed":
            state = FilingState(
                filing_code=organization_code,
                status="filed",
                scope=step.scope or [],
                filed_on=step.filed_on or step.effective_on,
                valid_until=step.valid_until or step.effective_on,
            )
        elif state is not None and step.kind == "status":
            state = dataclasses.replace(
                state, status=step.status or state.status, valid_until=step.valid_until or state.valid_until
            )
        elif state is not None and step.kind == "scope":
            state = dataclasses.replace(state, scope=step.scope or [])
    return state


def filing_check(
    steps: Iterable[FilingStep],
    *,
    organization_code: str,
    occupation_code: str,
    level: int,
    on: date,
) -> tuple[bool, str] | None:
    """Was the organization filed for this occupation and level on that day, by its history in date order?

    None: no history of it is known to the reader.
    """
    history = list(steps)
    if not history:
        return None
    state = replay_filing(history, organization_code, until=on)
    if state is None:
        return False, f"organization {organization_code} was not filed on {on}"
    error = state.scope_error(occupation_code=occupation_code, level=level, on=on)
    if error is not None:
        return False, f"on {on}: {error.reason}"
    return True, f"{organization_code} was filed for {occupation_code} level {level} on {on}"
