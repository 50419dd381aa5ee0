"""Database engine, sessions and migrations. SQLite is the embedded default; PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text, update
from sqlmodel import Session, SQLModel, create_engine

M = TypeVar("M", bound=SQLModel)


# An execution option of the engine `for_changes` gives: its SQLite transactions begin IMMEDIATE.
SQLITE_IMMEDIATE = "skillcert_sqlite_immediate"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # WAL lets the outbox relay read while a request writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            # Otherwise the driver begins by itself before the first write, reading until then without a snapshot.
            if connection.get_execution_options().get(SQLITE_IMMEDIATE):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def for_changes(engine: Engine) -> Engine:
    """The same engine (and pool) for a unit that changes something. On SQLite its transaction takes the one
    write lock when it begins, so what it reads is not stale when it writes: two people pressing the same button
    run one after the other, and the second sees what the first did (a DEFERRED transaction that read before
    another's commit would fail with "database is locked" on its first write). On PostgreSQL, the rows a step
    changes are locked by its loaders (`locked`)."""
    return engine.execution_options(**{SQLITE_IMMEDIATE: True})


def database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def migrate(engine: Engine, migrations_dir: Path) -> None:
    """Brings the database to the newest revision of one service's alembic migrations."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def fetch(session: Session, model: type[M], key: object, *, lock: bool) -> M | None:
    """The row of `model` with primary key `key`: `locked` when `lock` (a unit that changes it), else read."""
    return locked(session, model, key) if lock else session.get(model, key)


def locked(session: Session, model: type[M], key: object) -> M | None:
    """The row of `model` with primary key `key`, locked for the rest of the transaction, read after the lock.

    Two people pressing the same button queue here: the second reads what the first committed. The lock is a
    no-op write (`SET pk = pk`), so it works the same on both backends: PostgreSQL locks the row, SQLite takes
    its one write lock (its transaction begins at that write, so nothing read before is stale).
    """
    table = model.__table__  # type: ignore[attr-defined]
    [primary] = table.primary_key.columns
    session.execute(update(table).where(primary == key).values({primary.name: primary}))
    return session.get(model, key, populate_existing=True)


def upsert(session: Session, model: type[M], values: dict[str, Any], row: M | None = None) -> M:
    """The row of `model` whose primary key is in `values` (or `row`, already read), made or brought up to
    `values`: a replica's one upsert."""
    if row is None:
        keys = model.__table__.primary_key.columns.keys()  # type: ignore[attr-defined]
        row = session.get(model, tuple(values[key] for key in keys) if len(keys) > 1 else values[keys[0]])
    if row is None:
        row = model.model_validate(values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.add(row)
    return row
