"""the outbox is vacuumed like the queue it is

Every message is updated two or three times on its way out (scheduled, sending, sent), and each update leaves a dead
entry in the claim index (status, due_at) until the table is vacuumed. PostgreSQL's default waits for 20% of the table
to be dead, so while a big backlog drains the dispatcher's claim walks an ever longer run of dead entries
(bench/dispatch.py: the drain slowed from about 220 to 160 messages/s over 100,000 messages). Vacuuming the outbox
after a small, fixed number of changes keeps the claim's walk short. SQLite has no autovacuum of this kind.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:15:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

SETTINGS = ('autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_threshold', 'autovacuum_analyze_scale_factor')


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE message SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, "
                   "autovacuum_analyze_scale_factor = 0.02)")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"ALTER TABLE message RESET ({', '.join(SETTINGS)})")
