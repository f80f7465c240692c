"""people: invitations to a store (``invitation``), a role per store (``user_store.role``) and a user's name

Revision ID: 0027
Revises: 0025
Create Date: 2026-12-02 00:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'invitation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['store_id'], ['store.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['invited_by_id'], ['admin_user.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_invitation_store_id', 'invitation', ['store_id'])
    op.add_column('user_store', sa.Column('role', sa.String(length=16), nullable=True))
    op.add_column('admin_user', sa.Column('name', sa.String(length=100), nullable=True))


def downgrade():
    op.drop_column('admin_user', 'name')
    op.drop_column('user_store', 'role')
    op.drop_index('ix_invitation_store_id', table_name='invitation')
    op.drop_table('invitation')
