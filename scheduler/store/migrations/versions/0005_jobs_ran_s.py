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
    # one pass over the runs, one update per job that has any (SQLite and PostgreSQL alike)
    op.execute(
        "UPDATE jobs SET ran_s = r.ran FROM (SELECT job_id, SUM(ended_at - started_at) AS ran"
        " FROM job_runs WHERE ended_at IS NOT NULL GROUP BY job_id) AS r WHERE r.job_id = jobs.id")


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('ran_s')
