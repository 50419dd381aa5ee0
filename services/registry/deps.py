"""Registry's typed dependencies: who may call which route (the unit of work is shared.platform.deps.UnitDep)."""

from __future__ import annotations

from typing import Annotated

from shared.platform.auth import Principal, Role, require_role

Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
# The selection's steps: each view then checks the official is of the selecting division (service.ensure_acts).
Reviewer = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.COUNTY_OFFICIAL)]
Applicant = Annotated[Principal, require_role(Role.ORG_OPERATOR, Role.CITY_OFFICIAL, Role.PROVINCE_OFFICIAL)]
Staff = Annotated[
    Principal,
    require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.COUNTY_OFFICIAL, Role.INSPECTOR, Role.ORG_OPERATOR),
]
