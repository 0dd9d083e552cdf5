"""tenants.parent (issue 22): the tenant a tenant's quota is carved out of (null: top level)

Revision ID: issue22_tenant_parent
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'issue22_tenant_parent'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('parent', sa.String(length=63), nullable=True))
    with op.batch_alter_table('quota_history') as batch:
        batch.add_column(sa.Column('parent', sa.String(length=63), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('quota_history') as batch:
        batch.drop_column('parent')
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('parent')
