"""a worker wakes as soon as a message falls due: the outbox NOTIFYs when rows are written scheduled (PostgreSQL)

Statement-level triggers on ``message`` (one for INSERT, one for UPDATE: a trigger with transition tables takes one
event) send ``NOTIFY retainful_outbox, '<epoch of the earliest due_at written scheduled>'``; the claim and the
recording of outcomes write no scheduled row and notify nothing. Whatever writes the outbox (planning, retries,
deferrals, reclaimed or released leases, test sends) is covered without code of its own. SQLite has no NOTIFY: its
worker polls, as before.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-01 20:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("""
        CREATE FUNCTION retainful_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            earliest timestamptz;
        BEGIN
            SELECT min(due_at) INTO earliest FROM written WHERE status = 'scheduled';
            IF earliest IS NOT NULL THEN
                PERFORM pg_notify('retainful_outbox', extract(epoch FROM earliest)::text);
            END IF;
            RETURN NULL;
        END
        $$
    """)
    for event in ('INSERT', 'UPDATE'):
        op.execute(f"CREATE TRIGGER message_notify_{event.lower()} AFTER {event} ON message "
                   "REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION retainful_outbox_notify()")


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for event in ('insert', 'update'):
        op.execute(f"DROP TRIGGER IF EXISTS message_notify_{event} ON message")
    op.execute("DROP FUNCTION IF EXISTS retainful_outbox_notify()")
