"""email suppressions that survive erasure

A GDPR erase or a retention purge clears the customer's email, and with it the bounce suppression that kept the
service from mailing a dead address: the shopper's next cart report made a fresh, unsuppressed customer. The
suppression now stays as an HMAC (SECRET_KEY) of the normalised address, which identifies nobody on its own.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'email_suppression',
        sa.Column('email_hash', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=True),
        sa.Column('suppressed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('email_hash'),
    )


def downgrade():
    op.drop_table('email_suppression')
