"""products and order lines: ``product`` (a store's products by the shop's id, with ``replenish_after_days``) and
``shop_order.lines`` (what an order bought), for the replenishment reminders

Revision ID: 0025
Revises: 0030
Create Date: 2026-12-01 23:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'product',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('replenish_after_days', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['store_id'], ['store.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('store_id', 'product_id'),
    )
    op.create_index('ix_product_store_id', 'product', ['store_id'])
    op.add_column('shop_order', sa.Column('lines', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))


def downgrade():
    op.drop_column('shop_order', 'lines')
    op.drop_index('ix_product_store_id', table_name='product')
    op.drop_table('product')
