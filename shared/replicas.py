"""A service's own replica of filed organizations, kept from `organization filed` events.

Recognition checks batch plans against it and supervision draws inspection targets from it, with no
synchronous call to the registry.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import JSON, Column, Field, Session, SQLModel

from shared.errors import FieldError
from shared.events import ORGANIZATION_FILED, Envelope, OrganizationFiled, ScopeItem
from shared.outbox import utcnow
from shared.service import Runtime


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
    updated_at: datetime = Field(default_factory=utcnow)

    def scope_items(self) -> list[ScopeItem]:
        return [ScopeItem.model_validate(item) for item in self.scope]

    def scope_error(self, *, occupation_code: str, level: int, on: date) -> FieldError | None:
        """None if the organization may recognise this occupation and level on that day, else why not."""
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
    replica.updated_at = utcnow()
    session.add(replica)
    return replica


def keep_filed_organizations(runtime: Runtime, consumer: str) -> None:
    """Subscribes `consumer` to its province's `organization filed` events, upserting the replica."""
    province = runtime.settings.province

    async def on_organization_filed(envelope: Envelope[Any]) -> None:
        await runtime.apply_once(
            consumer, envelope, lambda session: upsert_filed_organization(session, envelope.payload)
        )

    runtime.subscribe(
        ORGANIZATION_FILED, consumer=consumer, group_id=f"skillcert-{province}-{consumer}",
        handler=on_organization_filed,
    )
