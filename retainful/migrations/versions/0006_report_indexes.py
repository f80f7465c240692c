"""report indexes

Indexes for the report queries (retainful/reports), measured with bench/reports.py on one store with 1,000,000
carts, 300,000 orders and 2,000,000 messages. On PostgreSQL the INCLUDE columns make the report queries index-only
scans (the message heap, with its bodies, is ~1.7 GB there), and the indexes are built CONCURRENTLY so that applying
this migration to a big store does not block cart intake or the dispatcher while they build (seconds per index).
SQLite gets the same key columns (it has no INCLUDE) and builds them in the ordinary way.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 14:30:00.000000

"""
from contextlib import nullcontext

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

CLICKED = "clicked_at IS NOT NULL"

# (name, table, key columns, dialect options), as declared in the models' __table_args__.
INDEXES = (
    ('ix_cart_store_abandoned', 'cart', ['store_id', 'abandoned_at'],
     dict(postgresql_include=['id', 'status', 'reachable', 'control_group', 'total'])),
    ('ix_cart_store_created', 'cart', ['store_id', 'created_at'], dict(postgresql_include=['id', 'abandoned_at'])),
    ('ix_message_store_sent', 'message', ['store_id', 'sent_at'], dict(postgresql_include=['id', 'kind', 'status'])),
    ('ix_message_cart_status', 'message', ['cart_id', 'status'], dict(postgresql_include=[
        'store_id', 'kind', 'step_id', 'channel', 'skip_reason', 'opened_at', 'clicked_at', 'id'])),
    ('ix_message_clicked', 'message', ['cart_id'], dict(postgresql_include=['store_id', 'kind', 'status'],
                                                        postgresql_where=sa.text(CLICKED),
                                                        sqlite_where=sa.text(CLICKED))),
    ('ix_shop_order_store_placed', 'shop_order', ['store_id', 'placed_at'], {}),
    ('ix_coupon_store_kind_created', 'coupon', ['store_id', 'kind', 'created_at'],
     dict(postgresql_include=['id', 'code'])),
)


def _concurrently():
    """PostgreSQL: outside the migration's transaction, so CREATE/DROP INDEX CONCURRENTLY can run."""
    if op.get_bind().dialect.name == 'postgresql':
        return op.get_context().autocommit_block(), True
    return nullcontext(), False


def upgrade():
    block, concurrently = _concurrently()
    with block:
        for name, table, columns, options in INDEXES:
            if concurrently:  # an earlier attempt that failed mid-build leaves an INVALID index behind
                op.drop_index(name, table_name=table, postgresql_concurrently=True, if_exists=True)
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=concurrently, **options)


def downgrade():
    block, concurrently = _concurrently()
    with block:
        for name, table, _, _ in reversed(INDEXES):
            op.drop_index(name, table_name=table, postgresql_concurrently=concurrently, if_exists=True)
