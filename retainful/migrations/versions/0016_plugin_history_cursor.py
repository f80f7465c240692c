"""past orders are imported through the Retainful plugin, resumed from a cursor

The plugin's ``GET /wp-json/retainful-api/v1/orders`` is keyed by ``since_id``; each store keeps the last order id
read and when the next import is due, so a bounded run resumes where the last one stopped.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN, never a batch: on SQLite a batch rebuilds the store table and cascades to its carts.
    op.add_column('store', sa.Column('retainful_history_since_id', sa.BigInteger(), nullable=True))
    op.add_column('store', sa.Column('retainful_history_due_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_column('store', 'retainful_history_due_at')
    op.drop_column('store', 'retainful_history_since_id')
