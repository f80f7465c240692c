"""worker heartbeats, job runs and send tallies

Workers record that they are alive, each job's last run with the counts behind its duration histogram, and the
outcomes they sent, so /readyz, /metrics and ``retainful status`` see workers that run in other containers.

Revision ID: 0017
Revises: 0020
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_heartbeat',
        sa.Column('worker_id', sa.String(length=64), nullable=False),
        sa.Column('hostname', sa.String(length=255), nullable=False),
        sa.Column('pid', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('worker_id'),
    )
    op.create_index('ix_worker_heartbeat_seen_at', 'worker_heartbeat', ['seen_at'])
    op.create_table(
        'job_run',
        sa.Column('worker_id', sa.String(length=64), nullable=False),
        sa.Column('job_id', sa.String(length=32), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('duration_seconds', sa.Float(), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.Column('runs', sa.BigInteger(), nullable=False),
        sa.Column('failures', sa.BigInteger(), nullable=False),
        sa.Column('duration_sum', sa.Float(), nullable=False),
        sa.Column('buckets', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('worker_id', 'job_id'),
    )
    op.create_table(
        'send_tally',
        sa.Column('worker_id', sa.String(length=64), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('provider', sa.String(length=16), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('worker_id', 'channel', 'provider', 'outcome'),
    )


def downgrade():
    op.drop_table('send_tally')
    op.drop_table('job_run')
    op.drop_index('ix_worker_heartbeat_seen_at', table_name='worker_heartbeat')
    op.drop_table('worker_heartbeat')
