"""A service's own replica of filed organizations, kept from `organization filed` events.

Recognition checks batch plans against it and supervision draws inspection targets from it, with no
synchronous call to the registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any, Protocol

from sqlmodel import JSON, Column, Field, Session, SQLModel

from shared.kernel.errors import FieldError
from shared.kernel.events import (
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    Envelope,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
    ScopeItem,
)
from shared.platform.app import Runtime
from shared.platform.outbox import utcnow


class FiledOrganization(SQLModel, table=True):
    __tablename__ = "filed_organization"

    filing_code: str = Field(primary_key=True, max_length=13)
    name: str
    org_type: str = Field(max_length=1)
    province: str = Field(max_length=2)
    city: str | None = None
    scope: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    filed_on: date
    valid_until: date
    status: str = Field(default="filed", max_length=20)
    evaluation_scope: str = Field(default="province", max_length=10)
    sites: list[dict[str, object]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)

    def scope_items(self) -> list[ScopeItem]:
        return [ScopeItem.model_validate(item) for item in self.scope]

    def scope_error(self, *, occupation_code: str, level: int, on: date) -> FieldError | None:
        """None if the organization may recognise this occupation and level on that day, else why not."""
        if self.status != "filed":
            return FieldError("organization_code", f"organization {self.filing_code} is {self.status}; "
                              "only a filed organization in good standing may recognise [G四(二)]")
        if not self.filed_on <= on <= self.valid_until:
            return FieldError("organization_code", f"filing of {self.filing_code} is not valid on {on} "
                              f"(valid {self.filed_on} to {self.valid_until})")
        items = [item for item in self.scope_items() if item.occupation_code == occupation_code]
        if not items:
            return FieldError("occupation_code",
                              f"occupation {occupation_code} is outside the filed scope of {self.filing_code}")
        if not any(level in item.levels for item in items):
            allowed = sorted({lv for item in items for lv in item.levels})
            return FieldError("level", f"level {level} is outside the filed scope of {self.filing_code} for "
                              f"{occupation_code} (filed levels: {allowed})")
        return None


def upsert_filed_organization(session: Session, payload: OrganizationFiled) -> FiledOrganization:
    replica = session.get(FiledOrganization, payload.filing_code) or FiledOrganization(
        filing_code=payload.filing_code, name=payload.name, org_type=payload.org_type, province=payload.province,
        scope=[], filed_on=payload.filed_on, valid_until=payload.valid_until,
    )
    replica.name = payload.name
    replica.org_type = payload.org_type
    replica.city = payload.city
    replica.scope = [item.model_dump() for item in payload.scope]
    replica.filed_on = payload.filed_on
    replica.valid_until = payload.valid_until
    replica.evaluation_scope = payload.evaluation_scope
    replica.sites = [site.model_dump() for site in payload.sites]
    replica.status = "filed"
    replica.updated_at = utcnow()
    session.add(replica)
    return replica


class FilingStep(Protocol):
    """One step of an organization's filing history: `filed`, a `status` change or a `scope` change."""

    effective_on: date
    kind: str
    status: str | None
    scope: list[dict[str, Any]] | None
    filed_on: date | None
    valid_until: date | None


def replay_filing(steps: Iterable[FilingStep], organization_code: str, until: date | None = None
                  ) -> FiledOrganization | None:
    """The organization's filing as its history in date order makes it (up to `until`); None: not filed."""
    state: FiledOrganization | None = None
    for step in steps:
        if until is not None and step.effective_on > until:
            break
        if step.kind == "filed":
            state = FiledOrganization(filing_code=organization_code, name="", org_type=organization_code[0],
                                      province=organization_code[5:7], scope=step.scope or [],
                                      filed_on=step.filed_on or step.effective_on,
                                      valid_until=step.valid_until or step.effective_on)
        elif state is not None and step.kind == "status":
            state.status = step.status or state.status
            state.valid_until = step.valid_until or state.valid_until
        elif state is not None and step.kind == "scope":
            state.scope = step.scope or []
    return state


def filing_check(
    steps: Iterable[FilingStep], *, organization_code: str, occupation_code: str, level: int, on: date,
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


class ReplicaBehind(RuntimeError):
    """An event about an organization whose filing (on another topic) has not been applied yet."""


def apply_status_change(session: Session, payload: OrganizationStatusChanged) -> None:
    """Suspension, reinstatement, revocation, expiry and renewal of a filed organization."""
    if payload.filing_code is None:
        return  # an application's steps before filing: nothing to keep
    replica = session.get(FiledOrganization, payload.filing_code)
    if replica is None:
        raise ReplicaBehind(f"{payload.filing_code} {payload.action} arrived before its filing")
    replica.status = payload.to_status
    if payload.valid_until is not None:
        replica.valid_until = payload.valid_until
    replica.updated_at = utcnow()
    session.add(replica)


def apply_scope_change(session: Session, payload: OrganizationScopeChanged) -> None:
    replica = session.get(FiledOrganization, payload.filing_code)
    if replica is None:
        raise ReplicaBehind(f"{payload.filing_code} scope change arrived before its filing")
    replica.scope = [item.model_dump() for item in payload.scope]
    replica.updated_at = utcnow()
    session.add(replica)


def keep_filed_organizations(runtime: Runtime, consumer: str) -> None:
    """Keeps `consumer`'s replica from its province's registry events: filings, state and scope changes."""
    province = runtime.settings.province
    appliers: dict[str, Callable[[Session, Any], object]] = {
        ORGANIZATION_FILED.type: upsert_filed_organization,
        ORGANIZATION_STATUS_CHANGED.type: apply_status_change,
        ORGANIZATION_SCOPE_CHANGED.type: apply_scope_change,
    }

    async def on_registry_event(envelope: Envelope[Any]) -> None:
        apply = appliers[envelope.type]
        try:
            await runtime.apply_once(consumer, envelope, lambda session: apply(session, envelope.payload))
        except ReplicaBehind:
            # Topics are not ordered among each other: wait for the filing, then this event is redelivered.
            await asyncio.sleep(1)
            raise

    for contract in (ORGANIZATION_FILED, ORGANIZATION_STATUS_CHANGED, ORGANIZATION_SCOPE_CHANGED):
        # One group per topic: each topic's offsets and rebalances stay independent.
        runtime.subscribe(contract, consumer=consumer, group_id=f"skillcert-{province}-{consumer}-{contract.name}",
                          handler=on_registry_event)
