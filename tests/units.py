"""Units of work for tests that call service functions directly, as the edges do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sqlmodel import Session

from shared.kernel.clock import Clock
from shared.kernel.policy import Policy, policy_for
from shared.platform.settings import ServiceSettings
from shared.platform.unit import Unit

T = TypeVar("T")


def as_unit(
    session: Session, today: date | None = None, policy: Policy | None = None, settings: ServiceSettings | None = None
) -> Unit[Any]:
    """`policy` defaults to the settings' province's (Zhejiang's without settings); `today` to the real date."""
    settings = settings or ServiceSettings(province=policy.code if policy else "33")
    return Unit(
        session=session,
        today=today or Clock().today(),
        settings=settings,
        policy=policy or policy_for(settings.province, settings.policies_dir),
    )


def at_edge(session: Session, call: Callable[[], T]) -> T:
    """Runs a service call as an edge does: commits what it did, or rolls all of it back when it raises."""
    try:
        result = call()
    except BaseException:
        session.rollback()
        raise
    session.commit()
    return result
