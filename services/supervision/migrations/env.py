"""Alembic environment for this service: shared body in shared.migrations_env."""
from shared.migrations_env import run

run()
