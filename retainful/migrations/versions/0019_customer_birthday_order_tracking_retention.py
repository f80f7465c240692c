"""birthdays and subscriptions on the customer, shipment tracking on the order, customer retention on the store

The birthday automation needs the customer's birthday (``MM-DD`` or ``YYYY-MM-DD``), the welcome series when they
subscribed, post-purchase and order updates when the order was completed and its shipment tracking (WooCommerce
Shipment Tracking's items). Customers who have ordered are kept ``customer_retention_days`` (730) instead of the carts'
``retention_days``, so the purge no longer forgets the shoppers a win-back is for.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN, never a batch: on SQLite a batch rebuilds the table and cascades to what references it.
    op.add_column('customer', sa.Column('birthday', sa.String(length=10), nullable=True))
    op.add_column('customer', sa.Column('subscribed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shop_order', sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('shop_order', sa.Column('tracking', sa.JSON(), nullable=True))
    op.add_column('store', sa.Column('customer_retention_days', sa.Integer(), nullable=False, server_default='730'))


def downgrade():
    op.drop_column('store', 'customer_retention_days')
    op.drop_column('shop_order', 'tracking')
    op.drop_column('shop_order', 'completed_at')
    op.drop_column('customer', 'subscribed_at')
    op.drop_column('customer', 'birthday')
