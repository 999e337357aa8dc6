"""consumers: the raw mobile of an export that held no usable one, and the feeder code

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-05 12:29:42.151637
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile_raw', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('feeder_code', sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consumers', schema=None) as batch_op:
        batch_op.drop_column('feeder_code')
        batch_op.drop_column('mobile_raw')
