"""when a cart was first messaged and clicked

The reports' "messaged" and "clicked" carts were semi-joins of the cohort against the outbox: over 90 days of a big
store that is 1.6M message rows read per report (about 1.2 s of the 90-day summary in bench/reports.py). The
dispatcher and the click handler now keep these two times on the cart itself, and the cohort index carries them, so
the whole summary cohort is one index-only range scan. Existing carts are filled in from their messages.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 16:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COHORT_INDEX = 'ix_cart_store_abandoned'
COHORT_INCLUDE = ['id', 'status', 'reachable', 'control_group', 'total']

# First send and first click of each cart's sent recovery messages (kind 'abandoned_cart').
FIRST_TIMES = """
    SELECT cart_id, min(sent_at) AS messaged_at, min(clicked_at) AS clicked_at FROM message
    WHERE kind = 'abandoned_cart' AND status = 'sent' AND cart_id IS NOT NULL GROUP BY cart_id"""


def _rebuild_cohort_index(include: list[str]) -> None:
    """PostgreSQL: rebuilt CONCURRENTLY (outside the migration's transaction), so cart intake is never blocked."""
    if op.get_bind().dialect.name != 'postgresql':
        return  # SQLite has no INCLUDE: its index is the same either way
    with op.get_context().autocommit_block():
        op.drop_index(COHORT_INDEX, table_name='cart', postgresql_concurrently=True, if_exists=True)
        op.create_index(COHORT_INDEX, 'cart', ['store_id', 'abandoned_at'], unique=False,
                        postgresql_concurrently=True, postgresql_include=include)


def upgrade():
    op.add_column('cart', sa.Column('messaged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('cart', sa.Column('clicked_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            UPDATE cart SET messaged_at = first.messaged_at, clicked_at = first.clicked_at
            FROM ({FIRST_TIMES}) AS first WHERE cart.id = first.cart_id""")
    else:
        op.execute(f"""
            UPDATE cart SET (messaged_at, clicked_at) = (
                SELECT first.messaged_at, first.clicked_at FROM ({FIRST_TIMES}) AS first
                WHERE first.cart_id = cart.id)
            WHERE id IN (SELECT cart_id FROM message WHERE kind = 'abandoned_cart' AND status = 'sent')""")
    _rebuild_cohort_index(COHORT_INCLUDE + ['messaged_at', 'clicked_at'])


def downgrade():
    _rebuild_cohort_index(COHORT_INCLUDE)
    # Plain DROP COLUMN, not a batch rebuild: on SQLite that would drop the cart table and cascade to the outbox.
    op.drop_column('cart', 'clicked_at')
    op.drop_column('cart', 'messaged_at')
