"""user locale: the admin's language, chosen per user (issue #15 languages)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-01 23:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('admin_user', sa.Column('locale', sa.String(length=8), nullable=True))


def downgrade():
    op.drop_column('admin_user', 'locale')
