"""Recognition's event consumers: its replica of the province's filed organizations (shared.platform.replicas)."""

from __future__ import annotations

from shared.kernel.events import ORGANIZATION_FILED, ORGANIZATION_SCOPE_CHANGED, ORGANIZATION_STATUS_CHANGED
from shared.platform import replicas
from shared.platform.bus import Consumer
from shared.platform.unit import Unit

from .settings import RecognitionSettings

consumer: Consumer[Unit[RecognitionSettings]] = Consumer("recognition")

on_organization_filed = consumer.on(ORGANIZATION_FILED)(replicas.on_organization_filed)
on_organization_status_changed = consumer.on(ORGANIZATION_STATUS_CHANGED)(replicas.on_organization_status_changed)
on_organization_scope_changed = consumer.on(ORGANIZATION_SCOPE_CHANGED)(replicas.on_organization_scope_changed)
