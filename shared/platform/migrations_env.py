"""The body of every service's alembic env.py: the services differ only in their migrations folder."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    target_metadata = config.attributes.get("target_metadata", SQLModel.metadata)
    if connection is not None:
        _run_on(connection, target_metadata)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    with create_engine(url).connect() as new_connection:
        _run_on(new_connection, target_metadata)
        new_connection.commit()


def _run_on(connection, target_metadata) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
