"""the official Retainful WooCommerce plugin can connect

Each store gets the plugin's "App ID" and "Secret Key" (existing stores get fresh ones here, so every store can be
connected at once), the shop details the plugin's connect call sends, and each cart the plugin's decrypted snapshot
with its updated_at.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 18:30:00.000000

"""
import secrets
import string

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_SLUG = string.ascii_lowercase + string.digits


def _random_slug(length):  # the same shape as retainful.plugin.credentials makes; a migration keeps its own copy
    return ''.join(secrets.choice(_SLUG) for _ in range(length))


# Plain ALTER TABLE ADD/DROP COLUMN (SQLite 3.35+ has both), never a batch: on SQLite a batch rebuilds the table, and
# dropping the old store or cart table cascades to every cart, order and message (foreign keys are on). For the same
# reason the new columns stay nullable and the app id is unique by an index, not a constraint.


def upgrade():
    op.add_column('store', sa.Column('retainful_app_id', sa.String(length=64), nullable=True))
    op.add_column('store', sa.Column('retainful_secret_key', sa.String(length=64), nullable=True))
    op.add_column('store', sa.Column('retainful_shop', sa.JSON(), nullable=True))
    op.add_column('store', sa.Column('retainful_connected_at', sa.DateTime(timezone=True), nullable=True))
    store = sa.table('store', sa.column('id', sa.Integer), sa.column('retainful_app_id', sa.String),
                     sa.column('retainful_secret_key', sa.String))
    conn = op.get_bind()
    for (store_id,) in conn.execute(sa.select(store.c.id)).all():
        conn.execute(store.update().where(store.c.id == store_id).values(
            retainful_app_id=_random_slug(24), retainful_secret_key=_random_slug(32)))
    op.create_index('ix_store_retainful_app_id', 'store', ['retainful_app_id'], unique=True)
    op.add_column('cart', sa.Column('plugin_snapshot', sa.JSON(), nullable=True))
    op.add_column('cart', sa.Column('plugin_updated_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    op.drop_index('ix_store_retainful_app_id', table_name='store')
    for table, column in (('cart', 'plugin_updated_at'), ('cart', 'plugin_snapshot'),
                          ('store', 'retainful_connected_at'), ('store', 'retainful_shop'),
                          ('store', 'retainful_secret_key'), ('store', 'retainful_app_id')):
        op.drop_column(table, column)
