"""Writes a service's next alembic migration from its models: `python -m infra.migrations SERVICE "message"`.

Also used by the test that proves each service's migrations create exactly its models' tables.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, create_engine

from shared.platform.db import migrate

SERVICES_WITH_DATABASE = ("registry", "recognition", "certificates", "supervision")


def service_metadata(service: str) -> MetaData:
    models = importlib.import_module(f"services.{service}.models")
    metadata = MetaData()
    for model in models.TABLES:
        model.__table__.to_metadata(metadata)
    return metadata


def migrations_dir(service: str) -> Path:
    return Path(__file__).resolve().parent.parent / "services" / service / "migrations"


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir(service)))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["target_metadata"] = service_metadata(service)
    return config


def new_revision(service: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/db.sqlite"
        migrate(create_engine(url), migrations_dir(service))
        command.revision(alembic_config(service, url), message=message, autogenerate=True)


if __name__ == "__main__":
    new_revision(sys.argv[1], sys.argv[2])
