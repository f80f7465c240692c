"""the WooCommerce order pull resumes from a cursor

A pull is bounded by a page cap and a time budget per store and run (audit F4); one that stops early keeps its window's
modified_after and the page to resume at, so the next run carries on instead of starting over.

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 17:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('store', sa.Column('woo_pull_cursor_after', sa.DateTime(timezone=True), nullable=True))
    op.add_column('store', sa.Column('woo_pull_cursor_page', sa.Integer(), nullable=True))


def downgrade():
    # Plain DROP COLUMN, not a batch rebuild: on SQLite that would drop the store table and cascade to every table.
    op.drop_column('store', 'woo_pull_cursor_page')
    op.drop_column('store', 'woo_pull_cursor_after')
