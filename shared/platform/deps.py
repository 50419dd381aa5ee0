"""The dependencies every route may take. `UnitDep` is the HTTP edge: its transaction commits when the route
function returns, before the response is sent, so a failed commit is an error response and not a lost change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request
from sqlmodel import Session

from shared.kernel.numbering import LegacyNumber, NumberError, parse_lookup
from shared.platform.runtime import Runtime
from shared.platform.unit import Unit


def runtime_dependency(request: Request) -> Runtime[Any]:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime[Any], Depends(runtime_dependency)]


async def settings_dependency(request: Request) -> Any:
    """The service's settings; each service types it: `Annotated[RegistrySettings, Depends(settings_dependency)]`."""
    # async although it awaits nothing: a plain function would cost a thread-pool hop.
    return request.app.state.runtime.settings


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def unit_dependency(request: Request) -> Iterator[Unit[Any]]:
    runtime: Runtime[Any] = request.app.state.runtime
    changing = request.method not in SAFE_METHODS
    engine = runtime.db_for_changes if changing else runtime.db
    # Objects stay readable after the commit: the response is built from them once the transaction ended.
    with Session(engine, expire_on_commit=False) as session, session.begin():
        unit = runtime.unit(session, changing=changing)
        yield unit
    if unit.emitted:
        # What this request committed to the outbox goes out now rather than at the next poll.
        runtime.wake_relay()


UnitDep = Annotated[Unit[Any], Depends(unit_dependency, scope="function")]


async def today_dependency(request: Request) -> date:
    # async although it awaits nothing: a plain function would cost a thread-pool hop.
    return request.app.state.runtime.clock.today()  # type: ignore[no-any-return]


TodayDep = Annotated[date, Depends(today_dependency)]


async def lookup_number(number: str) -> str:
    """A certificate number from the path: 422 naming the position at fault; a legacy number is marked so."""
    # async although it awaits nothing: a plain function would cost a thread-pool hop on every lookup.
    try:
        return str(parse_lookup(number))
    except LegacyNumber as error:
        raise HTTPException(404, detail=str(error), headers={"X-Legacy-Number": "true"}) from error
    except NumberError as error:
        raise HTTPException(422, detail=[{"field": "number", "reason": str(error)}]) from error


LookupNumber = Annotated[str, Depends(lookup_number)]


# Paging and row ids, bounded so that no number reaches the database as an integer it cannot hold (a 500).
Skip = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
