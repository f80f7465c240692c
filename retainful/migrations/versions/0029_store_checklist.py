"""the dashboard's first-run checklist: when the store made its first test-send, had its sequence reviewed, and had
its automations chosen

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02 00:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

COLUMNS = ('test_send_at', 'sequence_reviewed_at', 'automations_chosen_at')


def upgrade():
    for name in COLUMNS:
        op.add_column('store', sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade():
    for name in reversed(COLUMNS):
        op.drop_column('store', name)
