"""The columns every audit trail and every publicity's objections have, for the services' tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from shared.kernel.clock import utcnow


class AuditFields(SQLModel):
    """Who moved something, how and why: the columns every transition row of an audit trail has."""

    action: str
    reason: str | None = None
    actor: str
    actor_role: str
    at: datetime = Field(default_factory=utcnow)


class ObjectionFields(SQLModel):
    """An objection raised during a publicity, and how it was resolved."""

    raised_on: date
    raised_by: str
    content: str
    upheld: bool | None = None
    resolution: str | None = None
    resolved_on: date | None = None
