"""signed inspections are sealed: the database refuses changes

Revision ID: 5e2a9c1d7b40
Revises: a23905e6e41e
Create Date: 2026-12-02 17:00:00.000000

"""
from typing import Sequence, Union

from alembic import op

from services.supervision.sealing import protect_statements, unprotect_statements


# revision identifiers, used by Alembic.
revision: str = '5e2a9c1d7b40'
down_revision: Union[str, Sequence[str], None] = 'a23905e6e41e'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """A sealed inspection refuses UPDATE, no inspection is deleted, findings and signatures are append-only."""
    for statement in protect_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    for statement in unprotect_statements(op.get_bind().dialect.name):
        op.execute(statement)
