"""conversations: inbound replies, agents' answers, long texts' parts, canned replies, the store's persona and pause

Revision ID: 0021
Revises: 0017
Create Date: 2026-12-01 21:20:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN / CREATE TABLE, never a batch: on SQLite a batch rebuild cascades deletes through foreign keys.
    op.add_column('store', sa.Column('persona_name', sa.String(length=100), nullable=True))
    op.add_column('store', sa.Column('persona_signature', sa.String(length=500), nullable=True))
    op.add_column('store', sa.Column('conversation_pause_hours', sa.Integer(), nullable=False, server_default='48'))
    op.add_column('store', sa.Column('conversation_webhook_url', sa.String(length=500), nullable=True))
    op.create_table(
        'conversation',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('store_id', sa.Integer(), sa.ForeignKey('store.id', ondelete='CASCADE'), nullable=False),
        sa.Column('customer_id', sa.Integer(), sa.ForeignKey('customer.id', ondelete='CASCADE'), nullable=False),
        sa.Column('cart_id', sa.Integer(), sa.ForeignKey('cart.id', ondelete='SET NULL'), nullable=True),
        sa.Column('status', sa.String(length=8), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('assigned_user_id', sa.Integer(), sa.ForeignKey('admin_user.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('suggested_reason', sa.String(length=32), nullable=True),
        sa.Column('opt_out_flagged', sa.Boolean(), nullable=False),
        sa.Column('unread_count', sa.Integer(), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_inbound_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_outbound_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_conversation_store_id', 'conversation', ['store_id'])
    op.create_index('ix_conversation_store_status', 'conversation', ['store_id', 'status', 'last_inbound_at'])
    op.create_index('ix_conversation_customer_status', 'conversation', ['customer_id', 'status'])
    op.create_table(
        'conversation_message',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('store_id', sa.Integer(), sa.ForeignKey('store.id', ondelete='CASCADE'), nullable=False),
        sa.Column('conversation_id', sa.Integer(), sa.ForeignKey('conversation.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('direction', sa.String(length=8), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=100), nullable=True),
        sa.Column('agent_user_id', sa.Integer(), sa.ForeignKey('admin_user.id', ondelete='SET NULL'), nullable=True),
        sa.Column('keyword', sa.String(length=16), nullable=True),
        sa.Column('opt_out_flagged', sa.Boolean(), nullable=False),
        sa.Column('provider_message_id', sa.String(length=128), nullable=True),
        sa.Column('outbox_message_id', sa.Integer(), sa.ForeignKey('message.id', ondelete='SET NULL'),
                  nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_conversation_message_store_id', 'conversation_message', ['store_id'])
    op.create_index('ix_conversation_message_conversation_id', 'conversation_message', ['conversation_id'])
    op.create_index('ix_conversation_message_outbox_message_id', 'conversation_message', ['outbox_message_id'])
    op.create_index('uq_conversation_message_provider', 'conversation_message',
                    ['store_id', 'channel', 'provider_message_id'], unique=True)
    op.create_table(
        'inbound_sms_part',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('sender', sa.String(length=20), nullable=False),
        sa.Column('recipient', sa.String(length=20), nullable=False),
        sa.Column('concat_ref', sa.String(length=64), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('provider_message_id', sa.String(length=128), nullable=False),
        sa.Column('joined', sa.Boolean(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('recipient', 'provider_message_id'),
    )
    op.create_index('ix_inbound_sms_part_received_at', 'inbound_sms_part', ['received_at'])
    op.create_index('ix_inbound_sms_part_set', 'inbound_sms_part', ['sender', 'recipient', 'concat_ref'])
    op.create_table(
        'canned_reply',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('store_id', sa.Integer(), sa.ForeignKey('store.id', ondelete='CASCADE'), nullable=False),
        sa.Column('title', sa.String(length=100), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_canned_reply_store_id', 'canned_reply', ['store_id'])


def downgrade():
    op.drop_table('canned_reply')
    op.drop_table('inbound_sms_part')
    op.drop_table('conversation_message')
    op.drop_table('conversation')
    op.drop_column('store', 'conversation_webhook_url')
    op.drop_column('store', 'conversation_pause_hours')
    op.drop_column('store', 'persona_signature')
    op.drop_column('store', 'persona_name')
