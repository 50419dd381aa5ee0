"""Recognition's event consumers."""

from __future__ import annotations

from shared.replicas import keep_filed_organizations
from shared.service import Runtime

CONSUMER = "recognition"


def register(runtime: Runtime) -> None:
    keep_filed_organizations(runtime, CONSUMER)
