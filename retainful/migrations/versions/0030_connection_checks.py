"""connection checks: the last real result of the store's WooCommerce and Retainful plugin connections

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01 23:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

CONNECTIONS = ('woo', 'retainful')


def upgrade():
    for prefix in CONNECTIONS:
        op.add_column('store', sa.Column(f'{prefix}_checked_at', sa.DateTime(timezone=True), nullable=True))
        op.add_column('store', sa.Column(f'{prefix}_check_ok', sa.Boolean(), nullable=True))
        op.add_column('store', sa.Column(f'{prefix}_failure', sa.String(length=300), nullable=True))
        op.add_column('store', sa.Column(f'{prefix}_failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for prefix in CONNECTIONS:
        for column in ('failed_at', 'failure', 'check_ok', 'checked_at'):
            op.drop_column('store', f'{prefix}_{column}')
