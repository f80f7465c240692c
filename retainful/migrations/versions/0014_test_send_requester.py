"""who asked for each test-send, for the per-user and per-store test-send limits

A test-send goes out through the live provider to any address or phone typed in, so the API's key holder and each
admin user get a limit per hour (and the store one in all). ``requested_by`` is "api" or "user:<id>"; only test-sends
have it. The partial indexes keep the counts to the store's or the user's recent test-sends.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 18:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

TESTS_ONLY = "kind = 'test'"


def upgrade():
    # A plain ALTER, never a batch rebuild: on SQLite (foreign keys on) dropping the old outbox would cascade.
    op.add_column('message', sa.Column('requested_by', sa.String(length=32), nullable=True))
    op.create_index('ix_message_test_store', 'message', ['store_id', 'created_at'],
                    postgresql_where=sa.text(TESTS_ONLY), sqlite_where=sa.text(TESTS_ONLY))
    op.create_index('ix_message_test_requester', 'message', ['requested_by', 'created_at'],
                    postgresql_where=sa.text(TESTS_ONLY), sqlite_where=sa.text(TESTS_ONLY))


def downgrade():
    op.drop_index('ix_message_test_requester', table_name='message')
    op.drop_index('ix_message_test_store', table_name='message')
    op.drop_column('message', 'requested_by')
