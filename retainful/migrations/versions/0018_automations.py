"""automations: per-store settings with local send hours, and a de-duplication key on every planned message

The ``sequence``/``step`` tables (unique per store and kind) are the per-store settings of every automation
(retainful/automations/). A step may go out at a local hour (``at_hour``); a scanning automation keeps where it last
stopped (``cursor_at``/``cursor_id``) and reads customers by ``(store_id, last_order_at, id)``. Every message the
planner writes carries ``dedup_key`` ("<kind>:<subject>:<step position>:<channel>", unique per store) and the time its
delays were measured from (``trigger_at``). Existing abandoned-cart and next-order rows get their keys here, so the
planner recognises them and planning again never sends twice.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-01 20:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN, never a batch: on SQLite a batch rebuild cascades deletes through foreign keys.
    op.add_column('step', sa.Column('at_hour', sa.Integer(), nullable=True))
    op.add_column('sequence', sa.Column('cursor_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('sequence', sa.Column('cursor_id', sa.Integer(), nullable=True))
    op.add_column('message', sa.Column('dedup_key', sa.String(length=200), nullable=True))
    op.add_column('message', sa.Column('trigger_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE message SET dedup_key = 'abandoned_cart:cart:' || cart_id || ':' "
        "|| (SELECT step.position FROM step WHERE step.id = message.step_id) || ':' || channel, "
        "trigger_at = (SELECT cart.last_activity_at FROM cart WHERE cart.id = message.cart_id) "
        "WHERE kind = 'abandoned_cart' AND cart_id IS NOT NULL AND step_id IS NOT NULL")
    op.execute(
        "UPDATE message SET dedup_key = 'next_order:order:' "
        "|| (SELECT coupon.order_id FROM coupon WHERE coupon.id = message.coupon_id) || ':1:' || channel "
        "WHERE kind = 'next_order' AND coupon_id IS NOT NULL")
    op.create_index('uq_message_store_dedup', 'message', ['store_id', 'dedup_key'], unique=True)
    op.create_index('ix_customer_store_last_order', 'customer', ['store_id', 'last_order_at', 'id'])
    # Any automation's credit of an order; existing recovery credits are its first values.
    if op.get_context().dialect.name == 'sqlite':  # SQLite adds a column with its REFERENCES, not a constraint
        op.execute('ALTER TABLE shop_order ADD COLUMN credited_message_id INTEGER '
                   'REFERENCES message (id) ON DELETE SET NULL')
    else:
        op.add_column('shop_order', sa.Column('credited_message_id', sa.Integer(), nullable=True))
        op.create_foreign_key('shop_order_credited_message_id_fkey', 'shop_order', 'message',
                              ['credited_message_id'], ['id'], ondelete='SET NULL')
    op.execute('UPDATE shop_order SET credited_message_id = attributed_message_id')


def downgrade():
    if op.get_context().dialect.name != 'sqlite':
        op.drop_constraint('shop_order_credited_message_id_fkey', 'shop_order', type_='foreignkey')
    op.drop_column('shop_order', 'credited_message_id')
    op.drop_index('ix_customer_store_last_order', table_name='customer')
    op.drop_index('uq_message_store_dedup', table_name='message')
    op.drop_column('message', 'trigger_at')
    op.drop_column('message', 'dedup_key')
    op.drop_column('sequence', 'cursor_id')
    op.drop_column('sequence', 'cursor_at')
    op.drop_column('step', 'at_hour')
