"""login throttle per account and per address, per-user session version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 17:45:00

The per-user failure counters go: the throttle now counts failures per submitted account (known or not, so the answer
never tells which exist) and per client address, in its own table. ``session_version`` lets logout and a password
change end sessions on the server.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    op.create_index(op.f('ix_login_throttle_last_failure_at'), 'login_throttle', ['last_failure_at'], unique=False)
    # Plain ALTERs, never a batch rebuild: on SQLite (foreign keys on) dropping the old admin_user table would cascade
    # away every user's store assignments (user_store).
    op.add_column('admin_user', sa.Column('session_version', sa.Integer(), nullable=False, server_default='1'))
    op.drop_column('admin_user', 'failed_logins')
    op.drop_column('admin_user', 'last_failed_login_at')


def downgrade():
    op.add_column('admin_user', sa.Column('last_failed_login_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('admin_user', sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
    op.drop_column('admin_user', 'session_version')
    op.drop_index(op.f('ix_login_throttle_last_failure_at'), table_name='login_throttle')

    op.drop_table('login_throttle')
