"""cart lines in the cart row

A storefront report always replaces a cart's whole list of lines and nothing reads a line on its own, so the lines
move from the cart_item table into a JSON column of the cart: a report writes one row instead of deleting and
inserting a row per line (measured with bench/cart_ingest.py), and the dispatcher loads carts without a join.
Existing lines are copied over in one statement per database; the price keeps its exact decimal text.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 16:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

FIELDS = ('product_id', 'variant_id', 'sku', 'name', 'quantity', 'price', 'image_url', 'product_url')


def _copy_lines_into_carts(dialect: str) -> None:
    if dialect == 'postgresql':
        pairs = ", ".join(f"'{f}', {'price::text' if f == 'price' else f}" for f in FIELDS)
        op.execute(f"""
            UPDATE cart SET lines = grouped.lines
            FROM (SELECT cart_id, json_agg(json_strip_nulls(json_build_object({pairs})) ORDER BY position) AS lines
                  FROM cart_item GROUP BY cart_id) AS grouped
            WHERE cart.id = grouped.cart_id""")
    else:
        pairs = ", ".join(f"'{f}', {'CAST(price AS TEXT)' if f == 'price' else f}" for f in FIELDS)
        op.execute(f"""
            UPDATE cart SET lines = (
                SELECT json_group_array(json_patch('{{}}', json_object({pairs})))  -- the patch drops null fields
                FROM (SELECT * FROM cart_item WHERE cart_item.cart_id = cart.id ORDER BY position))
            WHERE EXISTS (SELECT 1 FROM cart_item WHERE cart_item.cart_id = cart.id)""")


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite 3.35+ has both), never a batch rebuild of the cart table: on SQLite a rebuild
    # drops the old table, and with foreign keys on, that cascades to every row that points at a cart.
    op.add_column('cart', sa.Column('lines', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
    _copy_lines_into_carts(op.get_bind().dialect.name)
    with op.batch_alter_table('cart_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cart_item_cart_id'))
    op.drop_table('cart_item')


def downgrade():
    op.create_table('cart_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cart_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.String(length=64), nullable=False),
    sa.Column('variant_id', sa.String(length=64), nullable=True),
    sa.Column('sku', sa.String(length=100), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('price', sa.Numeric(precision=18, scale=4), nullable=False),
    sa.Column('image_url', sa.String(length=2048), nullable=True),
    sa.Column('product_url', sa.String(length=2048), nullable=True),
    sa.ForeignKeyConstraint(['cart_id'], ['cart.id'], name=op.f('fk_cart_item_cart_id_cart'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cart_item'))
    )
    with op.batch_alter_table('cart_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cart_item_cart_id'), ['cart_id'], unique=False)
    columns = ", ".join(FIELDS)
    if op.get_bind().dialect.name == 'postgresql':
        values = ", ".join(f"(line ->> '{f}')::{'numeric' if f == 'price' else 'integer' if f == 'quantity' else 'text'}"
                           for f in FIELDS)
        op.execute(f"""
            INSERT INTO cart_item (cart_id, position, {columns})
            SELECT cart.id, lines.ordinality - 1, {values}
            FROM cart CROSS JOIN LATERAL json_array_elements(cart.lines) WITH ORDINALITY AS lines(line, ordinality)""")
    else:
        values = ", ".join(f"json_extract(lines.value, '$.{f}')" for f in FIELDS)
        op.execute(f"""
            INSERT INTO cart_item (cart_id, position, {columns})
            SELECT cart.id, lines.key, {values} FROM cart, json_each(cart.lines) AS lines""")
    op.drop_column('cart', 'lines')
