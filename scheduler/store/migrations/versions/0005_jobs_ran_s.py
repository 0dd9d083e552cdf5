"""jobs.ran_s: seconds a job ran in its attempts that ended (its attained service)

Rows written before it get theirs from the ledger's runs (``job_runs``), the
same stretches: from the start of each attempt to the end of its devices' hold.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('ran_s', sa.Float(), server_default='0', nullable=False))
    op.execute(
        "UPDATE jobs SET ran_s = (SELECT SUM(r.ended_at - r.started_at) FROM job_runs r"
        " WHERE r.job_id = jobs.id AND r.ended_at IS NOT NULL)"
        " WHERE EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = jobs.id AND r.ended_at IS NOT NULL)")


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('ran_s')
