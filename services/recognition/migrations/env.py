"""Alembic environment for this service: shared body in shared.platform.migrations_env."""

from shared.platform.migrations_env import run

run()
