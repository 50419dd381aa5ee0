"""The query service's typed dependencies: the read model, fair use, the provinces' supervision (complaints) and
its settings. Each is `async` although it awaits nothing: a plain function would cost a thread-pool hop on every
lookup."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.platform.deps import settings_dependency

from .complaints import Supervisions
from .fair_use import FairUse
from .settings import QuerySettings
from .store import CertificateStore


def store_of(request: Request) -> CertificateStore:
    """For the public lookup, which calls its checks itself (see views.by_number)."""
    return request.app.state.certificate_store  # type: ignore[no-any-return]


def fair_use_of(request: Request) -> FairUse:
    return request.app.state.fair_use  # type: ignore[no-any-return]


async def store_dependency(request: Request) -> CertificateStore:
    return store_of(request)


StoreDep = Annotated[CertificateStore, Depends(store_dependency)]


async def fair_use_dependency(request: Request) -> FairUse:
    return fair_use_of(request)


FairUseDep = Annotated[FairUse, Depends(fair_use_dependency)]


SettingsDep = Annotated[QuerySettings, Depends(settings_dependency)]


async def supervisions_dependency(request: Request) -> Supervisions:
    return request.app.state.supervisions  # type: ignore[no-any-return]


SupervisionsDep = Annotated[Supervisions, Depends(supervisions_dependency)]
