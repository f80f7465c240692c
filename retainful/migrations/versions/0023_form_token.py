"""form tokens: one-time tokens of admin forms that must act once (the inbox's reply box)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 21:35:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'form_token',
        sa.Column('token', sa.String(length=64), primary_key=True),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_form_token_used_at', 'form_token', ['used_at'])


def downgrade():
    op.drop_index('ix_form_token_used_at', table_name='form_token')
    op.drop_table('form_token')
