"""Filings expire when their validity ends, by the service's date (no broker needed)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from infra.walkthrough import organization_application
from services.registry import service
from services.registry.models import ApplicationCreate, OrganizationStatus
from shared.kernel.clock import Clock
from shared.platform.auth import Actor
from shared.platform.db import make_engine, migrate
from shared.platform.outbox import OutboxEvent
from tests.units import as_unit

OPINIONS = [
    {"expert": e, "kind": k, "passed": True}
    for e, k in (("张专家", "material_check"), ("李专家", "argument"), ("王专家", "on_site"))
]


def test_filings_expire_after_three_years(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.registry.app import MIGRATIONS
    from shared.kernel.policy import policy_for

    engine = make_engine(f"sqlite:///{tmp_path / 'registry.db'}")
    migrate(engine, MIGRATIONS)
    policy = policy_for("33")
    actor = Actor("official", "province_official")
    four_years_ago = Clock().today() - timedelta(days=4 * 366)
    with Session(engine) as session:
        application = ApplicationCreate.model_validate(organization_application("33"))
        organization = service.submit_application(
            unit=as_unit(session, today=four_years_ago, policy=policy), application=application, actor=actor
        )
        service.file(
            unit=as_unit(session, today=four_years_ago, policy=policy),
            organization=organization,
            actor=actor,
            action="register_filed",
        )
        assert service.expire_due(unit=as_unit(session)) == [organization.filing_code]
        session.refresh(organization)
        assert organization.status is OrganizationStatus.EXPIRED
        assert service.search_catalogue(unit=as_unit(session))[1] == 0
        events = session.exec(select(OutboxEvent.event_type).order_by(col(OutboxEvent.seq))).all()
        assert events[-1] == "registry.organization-status-changed"
        assert service.expire_due(unit=as_unit(session)) == []  # nothing twice
