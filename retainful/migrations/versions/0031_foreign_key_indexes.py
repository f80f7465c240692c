"""foreign key indexes: the keys that rows deleted in bulk (retention) are looked up by

Deleting a message sets ``shop_order.attributed_message_id`` and ``credited_message_id`` to null where they point at
it, and deleting a cart does the same to ``conversation.cart_id``: without an index each deleted row costs PostgreSQL
a scan of the whole referencing table, so the retention sweep of a busy store grew with orders times messages.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-02 06:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

INDEXES = (('shop_order', 'attributed_message_id'), ('shop_order', 'credited_message_id'),
           ('conversation', 'cart_id'))


def upgrade():
    for table, column in INDEXES:
        op.create_index(f'ix_{table}_{column}', table, [column])


def downgrade():
    for table, column in INDEXES:
        op.drop_index(f'ix_{table}_{column}', table_name=table)
