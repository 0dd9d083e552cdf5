"""budgets (issue 22): PFLOPS-hours a tenant (or its subtree) may spend per period

Revision ID: issue22_budgets
Revises: issue22_tenant_parent
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = 'issue22_budgets'
down_revision = 'issue22_tenant_parent'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('budgets',
    sa.Column('tenant', sa.String(length=63), nullable=False),
    sa.Column('pflops_hours', sa.Float(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('period_s', sa.Float(), nullable=True),
    sa.Column('anchor', sa.Float(), nullable=False),
    sa.Column('carryover', sa.Float(), nullable=False),
    sa.Column('on_exhausted', sa.String(length=16), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('tenant', name=op.f('pk_budgets'))
    )


def downgrade() -> None:
    op.drop_table('budgets')
