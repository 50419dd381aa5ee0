"""Supervision's typed dependencies: who may call which route (the unit of work is shared.platform.deps.UnitDep)."""

from __future__ import annotations

from shared.platform.auth import Role, require_role

SUPERVISORS = require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR)
