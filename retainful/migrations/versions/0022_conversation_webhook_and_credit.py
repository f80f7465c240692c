"""outgoing_webhook and the conversation credit: the queue of signed POSTs to a store's conversation_webhook_url,
retried with backoff; ``shop_order.conversation_id``, the conversation an order is credited to (rule ``conversation``)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 21:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outgoing_webhook',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.String(length=40), nullable=False),
        sa.Column('data', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.String(length=80), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['store_id'], ['store.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_outgoing_webhook_store_id', 'outgoing_webhook', ['store_id'])
    op.create_index('ix_outgoing_webhook_customer_id', 'outgoing_webhook', ['customer_id'])
    op.create_index('ix_outgoing_webhook_due', 'outgoing_webhook', ['delivered_at', 'failed_at', 'next_attempt_at'])
    if op.get_context().dialect.name == 'sqlite':  # SQLite adds a column with its REFERENCES, not a constraint
        op.execute('ALTER TABLE shop_order ADD COLUMN conversation_id INTEGER '
                   'REFERENCES conversation (id) ON DELETE SET NULL')
    else:
        op.add_column('shop_order', sa.Column('conversation_id', sa.Integer(), nullable=True))
        op.create_foreign_key('shop_order_conversation_id_fkey', 'shop_order', 'conversation',
                              ['conversation_id'], ['id'], ondelete='SET NULL')
    op.create_index('ix_shop_order_conversation_id', 'shop_order', ['conversation_id'])


def downgrade():
    op.drop_index('ix_shop_order_conversation_id', table_name='shop_order')
    if op.get_context().dialect.name != 'sqlite':
        op.drop_constraint('shop_order_conversation_id_fkey', 'shop_order', type_='foreignkey')
    op.drop_column('shop_order', 'conversation_id')
    op.drop_index('ix_outgoing_webhook_due', table_name='outgoing_webhook')
    op.drop_index('ix_outgoing_webhook_customer_id', table_name='outgoing_webhook')
    op.drop_index('ix_outgoing_webhook_store_id', table_name='outgoing_webhook')
    op.drop_table('outgoing_webhook')
