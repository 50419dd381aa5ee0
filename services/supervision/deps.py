"""Supervision's typed dependencies: who may call which route (the unit of work is shared.platform.deps.UnitDep).

An inspector's or expert's token names their pool id as its subject: that is how the service knows who is on
an inspection and whose declarations are whose.
"""

from __future__ import annotations

from typing import Annotated

from shared.platform.auth import Principal, Role, require_role

SUPERVISORS = require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR)
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Supervisor = Annotated[Principal, SUPERVISORS]
Deciding = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.INSPECTOR)]
PoolMember = Annotated[Principal, require_role(Role.EXPERT, Role.INSPECTOR)]
Refusing = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.EXPERT, Role.INSPECTOR)]
Inspecting = Annotated[Principal, require_role(Role.INSPECTOR, Role.EXPERT)]
Signing = Annotated[Principal, require_role(Role.INSPECTOR, Role.EXPERT, Role.ORG_OPERATOR)]
Reading = Annotated[
    Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR, Role.EXPERT, Role.ORG_OPERATOR)
]
Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
Verifying = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.INSPECTOR)]
Handling = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR)]
CaseReader = Annotated[
    Principal, require_role(Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.INSPECTOR, Role.ORG_OPERATOR)
]
