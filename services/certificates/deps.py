"""Certificates' typed dependencies: its settings, and who may call which route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.platform.auth import Principal, Role, require_role
from shared.platform.deps import settings_dependency

from .settings import CertificatesSettings

SettingsDep = Annotated[CertificatesSettings, Depends(settings_dependency)]

Reader = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.ORG_OPERATOR, Role.INSPECTOR)]
HolderChannel = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL, Role.ORG_OPERATOR)]
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
