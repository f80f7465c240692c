"""orders keep the shop's modification time and refunds; webhook deliveries already acted on

WooCommerce signs only the body (no timestamp, no nonce), so a captured or late delivery of an older state of an
order was applied over a newer one (a refunded order turned back to processing). The order now keeps the shop's
``date_modified_gmt`` and an older update changes nothing. ``refunded`` is the sum of the order's refunds, taken off
its revenue. ``webhook_delivery`` remembers delivery ids (WooCommerce's X-WC-Webhook-Delivery-ID, SendGrid's
sg_event_id) for a while, so a repeated delivery changes nothing.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTERs, never a batch rebuild: on SQLite (foreign keys on) dropping the old table would cascade.
    op.add_column('shop_order', sa.Column('shop_modified_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shop_order', sa.Column('refunded', sa.Numeric(precision=18, scale=4), nullable=False,
                                          server_default='0'))
    op.create_table('webhook_delivery',
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('source', 'key', name=op.f('pk_webhook_delivery'))
    )
    op.create_index('ix_webhook_delivery_source_received', 'webhook_delivery', ['source', 'received_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_webhook_delivery_source_received', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_column('shop_order', 'refunded')
    op.drop_column('shop_order', 'shop_modified_at')
