"""tenants.isolation (issue 21): isolated (default: a Ray instance and sandbox per job) or shared

Tenants written before it are isolated, the default.

Revision ID: issue21_tenant_isolation
Revises: issue24_leader_lease
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'issue21_tenant_isolation'
down_revision = 'issue24_leader_lease'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('isolation', sa.String(16), server_default='isolated', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('isolation')
