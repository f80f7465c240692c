"""campaigns: one-off sends to a segment (``campaign``), their outbox rows' ``message.campaign_id``, and
``customer.country`` (the segment's country filter)

Revision ID: 0024
Revises: 0027
Create Date: 2026-12-01 23:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'campaign',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('store_id', sa.Integer(), sa.ForeignKey('store.id', ondelete='CASCADE'), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('templates', sa.JSON(), nullable=False),
        sa.Column('segment', sa.JSON(), nullable=False),
        sa.Column('coupon_type', sa.String(length=16), nullable=True),
        sa.Column('coupon_amount', sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column('coupon_minimum', sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column('coupon_valid_hours', sa.Integer(), nullable=False),
        sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('send_at_wall', sa.DateTime(timezone=False), nullable=True),
        sa.Column('local_time', sa.Boolean(), nullable=False),
        sa.Column('frequency_cap', sa.Boolean(), nullable=False),
        sa.Column('expand_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cursor_id', sa.Integer(), nullable=True),
        sa.Column('pacing', sa.JSON(), nullable=False),
        sa.Column('recipient_count', sa.Integer(), nullable=False),
        sa.Column('expanded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_campaign_state_expand', 'campaign', ['state', 'expand_at'])
    op.create_index('ix_campaign_store_created', 'campaign', ['store_id', 'created_at'])
    if op.get_context().dialect.name == 'sqlite':  # SQLite adds a column with its REFERENCES, not a constraint
        op.execute('ALTER TABLE message ADD COLUMN campaign_id INTEGER REFERENCES campaign (id) ON DELETE CASCADE')
    else:
        op.add_column('message', sa.Column('campaign_id', sa.Integer(), nullable=True))
        op.create_foreign_key('message_campaign_id_fkey', 'message', 'campaign', ['campaign_id'], ['id'],
                              ondelete='CASCADE')
    op.create_index('ix_message_campaign_status', 'message', ['campaign_id', 'status'])
    op.add_column('customer', sa.Column('country', sa.String(length=2), nullable=True))
    _backfill_countries()


def _backfill_countries(chunk: int = 5000) -> None:
    """Existing customers get the country new ones get (their phone's region, else their locale's)."""
    from retainful.customers.identity import country_of

    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(sa.text('SELECT id, phone, locale FROM customer WHERE id > :last AND '
                                    '(phone IS NOT NULL OR locale IS NOT NULL) ORDER BY id LIMIT :chunk'),
                            {'last': last, 'chunk': chunk}).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        updates = [{'i': i, 'c': country} for i, phone, locale in rows if (country := country_of(phone, locale))]
        if updates:
            conn.execute(sa.text('UPDATE customer SET country = :c WHERE id = :i'), updates)


def downgrade():
    op.drop_column('customer', 'country')
    op.drop_index('ix_message_campaign_status', table_name='message')
    if op.get_context().dialect.name != 'sqlite':
        op.drop_constraint('message_campaign_id_fkey', 'message', type_='foreignkey')
    op.drop_column('message', 'campaign_id')
    op.drop_index('ix_campaign_store_created', table_name='campaign')
    op.drop_index('ix_campaign_state_expand', table_name='campaign')
    op.drop_table('campaign')
