"""What the registry's and recognition's workflows share: allowed moves with an audit row each, and the
publicity (公示) with its objections, which must all be resolved, none upheld, before the next step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

from shared.kernel.errors import Conflict, FieldError

S = TypeVar("S", bound=StrEnum)


def next_status(allowed: Mapping[str, tuple[tuple[S, ...], S]], action: str, current: S, subject: str) -> S:
    """Where `action` takes `subject` from `current`, or 409 naming the states it is allowed from."""
    sources, target = allowed[action]
    if current not in sources:
        raise Conflict(
            f"cannot {action.replace('_', ' ')} {subject}: it is {current.value}, and only "
            f"{', '.join(s.value for s in sources)} may"
        )
    return target


class ObjectionCreate(BaseModel):
    """An objection raised during a publicity: on which day, by whom, what it says."""

    raised_on: date
    raised_by: str = Field(min_length=1, max_length=100)
    content: str = Field(min_length=2, max_length=2000)


class ObjectionResolution(BaseModel):
    upheld: bool
    resolution: str = Field(min_length=2, max_length=2000)


class Resolvable(Protocol):
    """What `resolve` changes on a stored objection (shared.platform.audit.ObjectionFields)."""

    upheld: bool | None
    resolution: str | None
    resolved_on: date | None


def check_within_publicity(raised_on: date, published_on: date, until: date) -> None:
    if not published_on <= raised_on <= until:
        raise FieldError("raised_on", f"the publicity ran {published_on} to {until}")


def resolve(objection: Resolvable, objection_id: int, resolution: ObjectionResolution, today: date) -> None:
    if objection.upheld is not None:
        raise Conflict(f"objection {objection_id} was resolved on {objection.resolved_on}")
    objection.upheld, objection.resolution, objection.resolved_on = resolution.upheld, resolution.resolution, today


def check_cleared(objections: Sequence[tuple[int | None, bool | None]], *, if_upheld: str, article: str) -> None:
    """(id, upheld) of a publicity's objections: 409 while one is open, or when one was upheld."""
    open_ones = [objection_id for objection_id, upheld in objections if upheld is None]
    if open_ones:
        raise Conflict(f"objections {open_ones} are not resolved [{article}]")
    if any(upheld for _, upheld in objections):
        raise Conflict(f"an objection was upheld: {if_upheld} [{article}]")
