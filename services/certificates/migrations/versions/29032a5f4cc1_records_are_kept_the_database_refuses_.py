"""records are kept: the database refuses deletes

Revision ID: 29032a5f4cc1
Revises: 0e1305a0e122
Create Date: 2026-11-23 02:35:57.027297

"""
from typing import Sequence, Union

from alembic import op

from services.certificates.retention import protect_statements, unprotect_statements


# revision identifiers, used by Alembic.
revision: str = '29032a5f4cc1'
down_revision: Union[str, Sequence[str], None] = '0e1305a0e122'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Kept tables refuse DELETE (electronic records 5+ years [L23]; skillcert keeps them for good)."""
    for statement in protect_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Downgrade schema."""
    for statement in unprotect_statements(op.get_bind().dialect.name):
        op.execute(statement)
