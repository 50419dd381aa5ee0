"""objections to a change's publicity

Revision ID: 2c0fb8f91c21
Revises: 02440552bdd7
Create Date: 2026-12-02 23:56:28.715644

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '2c0fb8f91c21'
down_revision: Union[str, Sequence[str], None] = '02440552bdd7'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema. Every objection kept so far was to an application's publicity (change_id NULL)."""
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_objection_change_id'), ['change_id'], unique=False)
        batch_op.create_foreign_key('objection_change_id_fkey', 'scopechange', ['change_id'], ['id'])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('objection', schema=None) as batch_op:
        batch_op.drop_constraint('objection_change_id_fkey', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_objection_change_id'))
        batch_op.drop_column('change_id')
