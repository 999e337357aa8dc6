"""recent_lookups: the consumer numbers a chat looked up, offered again as buttons

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-05 12:36:26.931626
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import discom.models

revision: str = '0010'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('recent_lookups',
    sa.Column('chat_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consumer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('looked_up_at', discom.models.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['chat_id'], ['chats.id'], name=op.f('fk_recent_lookups_chat_id_chats')),
    sa.ForeignKeyConstraint(['consumer_id'], ['consumers.id'], name=op.f('fk_recent_lookups_consumer_id_consumers')),
    sa.PrimaryKeyConstraint('chat_id', 'consumer_id', name=op.f('pk_recent_lookups'))
    )
    with op.batch_alter_table('recent_lookups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recent_lookups_looked_up_at'), ['looked_up_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('recent_lookups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recent_lookups_looked_up_at'))

    op.drop_table('recent_lookups')
