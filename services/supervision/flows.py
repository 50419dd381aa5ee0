"""Supervision's event consumers."""

from __future__ import annotations

from shared.platform.app import Runtime
from shared.platform.replicas import keep_filed_organizations

CONSUMER = "supervision"


def register(runtime: Runtime) -> None:
    keep_filed_organizations(runtime, CONSUMER)
