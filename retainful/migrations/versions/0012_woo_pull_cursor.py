"""the WooCommerce order pull resumes from a cursor; coupon sync errors lose the shop's reply

A pull is bounded by a page cap and a time budget per store and run (audit F4); one that stops early keeps its window's
modified_after and the page to resume at, so the next run carries on instead of starting over.

coupon.sync_error held up to 200 characters of whatever the shop URL answered, shown to owners and marketers (audit
F3). Stored errors keep only their status: "HTTP 500", or the text before the first colon ("gave up after 8
attempts", "ConnectionError"). Not undone by the downgrade: the replies are gone.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 17:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('store', sa.Column('woo_pull_cursor_after', sa.DateTime(timezone=True), nullable=True))
    op.add_column('store', sa.Column('woo_pull_cursor_page', sa.Integer(), nullable=True))
    before_colon = ("split_part(sync_error, ':', 1)" if op.get_bind().dialect.name == 'postgresql' else
                    "CASE WHEN instr(sync_error, ':') > 0 THEN substr(sync_error, 1, instr(sync_error, ':') - 1) "
                    "ELSE sync_error END")
    op.execute("UPDATE coupon SET sync_error = CASE WHEN sync_error LIKE 'HTTP %' THEN substr(sync_error, 1, 8) "
               f"ELSE {before_colon} END WHERE sync_error IS NOT NULL")


def downgrade():
    # Plain DROP COLUMN, not a batch rebuild: on SQLite that would drop the store table and cascade to every table.
    op.drop_column('store', 'woo_pull_cursor_page')
    op.drop_column('store', 'woo_pull_cursor_after')
