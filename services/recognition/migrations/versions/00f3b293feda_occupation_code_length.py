"""occupation code length

Revision ID: 00f3b293feda
Revises: 40d75ebc7390
Create Date: 2026-11-22 23:32:31.570115

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '00f3b293feda'
down_revision: Union[str, Sequence[str], None] = '40d75ebc7390'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Occupation codes have the form 6-18-01-01 (10 characters)."""
    with op.batch_alter_table("batch") as batch_op:
        batch_op.alter_column("occupation_code", type_=sqlmodel.sql.sqltypes.AutoString(length=10),
                              existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("batch") as batch_op:
        batch_op.alter_column("occupation_code", type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=False)
