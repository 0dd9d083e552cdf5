"""issue 24: the leader lease (high availability) and the epoch that recorded each job event

One row, ``scheduler``, that nobody holds yet (epoch 0, expired). Events written
before this migration have no epoch (one replica, no lease).

Revision ID: issue24_leader_lease
Revises: issue22_budgets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'issue24_leader_lease'
down_revision = 'issue22_budgets'
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        'leader_lease',
        sa.Column('name', sa.String(length=63), nullable=False),
        sa.Column('holder', sa.String(length=255), nullable=False),
        sa.Column('epoch', sa.BigInteger(), nullable=False),
        sa.Column('address', sa.String(length=255), nullable=True),
        sa.Column('acquired_at', sa.Float(), nullable=False),
        sa.Column('renewed_at', sa.Float(), nullable=False),
        sa.Column('expires_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_leader_lease')),
    )
    op.bulk_insert(lease, [{'name': 'scheduler', 'holder': '', 'epoch': 0, 'address': None,
                            'acquired_at': 0.0, 'renewed_at': 0.0, 'expires_at': 0.0}])
    with op.batch_alter_table('job_events') as batch:
        batch.add_column(sa.Column('leader_epoch', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job_events') as batch:
        batch.drop_column('leader_epoch')
    op.drop_table('leader_lease')
