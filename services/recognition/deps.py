"""Recognition's typed dependencies: its settings, the prior-certificate client, and who may call which route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.platform.auth import Principal, Role, require_role
from shared.platform.deps import settings_dependency

from .prior_certificates import PriorCertificates
from .settings import RecognitionSettings

SettingsDep = Annotated[RecognitionSettings, Depends(settings_dependency)]


def prior_certificates_dependency(request: Request) -> PriorCertificates:
    return request.app.state.prior_certificates  # type: ignore[no-any-return]


PriorCertificatesDep = Annotated[PriorCertificates, Depends(prior_certificates_dependency)]

Operator = Annotated[Principal, require_role(Role.ORG_OPERATOR)]
Department = Annotated[Principal, require_role(Role.TESTING_DEPARTMENT)]
Official = Annotated[Principal, require_role(Role.PROVINCE_OFFICIAL)]
# Who follows up what a suspended or revoked organization leaves [L28].
FollowUp = Annotated[Principal, require_role(Role.TESTING_DEPARTMENT, Role.PROVINCE_OFFICIAL)]
Reader = Annotated[
    Principal, require_role(Role.ORG_OPERATOR, Role.TESTING_DEPARTMENT, Role.PROVINCE_OFFICIAL, Role.INSPECTOR)
]
# Who is notified of the batches at new exam sites in their division [Z四(一), G四(二)].
NewSiteReader = Annotated[
    Principal,
    require_role(Role.TESTING_DEPARTMENT, Role.PROVINCE_OFFICIAL, Role.CITY_OFFICIAL, Role.COUNTY_OFFICIAL),
]
