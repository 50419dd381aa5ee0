"""Supervision's tables. Inspections, experts and findings come with the supervision issue."""

from shared.platform.outbox import ProcessedEvent
from shared.platform.replicas import FiledOrganization

# What this service's database holds (its alembic migrations create exactly these).
TABLES = (FiledOrganization, ProcessedEvent)
