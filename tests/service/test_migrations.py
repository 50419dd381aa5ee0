"""Each service's alembic migrations create exactly its models, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from infra.migrations import SERVICES_WITH_DATABASE, migrations_dir, service_metadata
from shared.platform.db import make_engine, migrate


@pytest.mark.parametrize("service", SERVICES_WITH_DATABASE)
def test_migrations_create_exactly_the_models(service: str, database_url_factory: Any) -> None:
    engine = make_engine(database_url_factory(f"migrations_{service}"))
    migrate(engine, migrations_dir(service))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), service_metadata(service))
    assert differences == []
