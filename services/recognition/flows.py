"""Recognition's event consumers: its replica of the province's filed organizations (shared.platform.replicas)."""

from __future__ import annotations

from shared.kernel.events import (
    ORGANIZATION_FILED,
    ORGANIZATION_SCOPE_CHANGED,
    ORGANIZATION_STATUS_CHANGED,
    Envelope,
    OrganizationFiled,
    OrganizationScopeChanged,
    OrganizationStatusChanged,
)
from shared.platform import replicas
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from .settings import RecognitionSettings

consumer: Consumer[Unit[RecognitionSettings]] = Consumer("recognition")


@consumer.on(ORGANIZATION_FILED)
def on_organization_filed(unit: Unit[RecognitionSettings], event: Envelope[OrganizationFiled]) -> None:
    replicas.upsert_filed_organization(unit.session, event.payload)


@consumer.on(ORGANIZATION_STATUS_CHANGED)
def on_organization_status_changed(unit: Unit[RecognitionSettings], event: Envelope[OrganizationStatusChanged]) -> None:
    replicas.apply_status_change(unit.session, event.payload)


@consumer.on(ORGANIZATION_SCOPE_CHANGED)
def on_organization_scope_changed(unit: Unit[RecognitionSettings], event: Envelope[OrganizationScopeChanged]) -> None:
    replicas.apply_scope_change(unit.session, event.payload)
