"""experiments: A/B tests of an automation step's or a campaign's templates (experiment, experiment_variant) and the
variant each outbox message was rendered with (message.variant_id)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 23:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'experiment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('store_id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=80), nullable=False),
        sa.Column('metric', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('auto_apply', sa.Boolean(), nullable=False),
        sa.Column('winner_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decision_rule', sa.String(length=200), nullable=True),
        sa.Column('decision_p_value', sa.Float(), nullable=True),
        sa.Column('decision_stats', sa.JSON(none_as_null=True), nullable=True),
        sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['store_id'], ['store.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_experiment_store_id', 'experiment', ['store_id'])
    op.create_index('uq_experiment_running_subject', 'experiment', ['store_id', 'subject'], unique=True,
                    postgresql_where=sa.text("state = 'running'"), sqlite_where=sa.text("state = 'running'"))
    op.create_table(
        'experiment_variant',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('experiment_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('weight', sa.Integer(), nullable=False),
        sa.Column('templates', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['experiment_id'], ['experiment.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('experiment_id', 'position'),
    )
    if op.get_context().dialect.name == 'sqlite':  # SQLite adds a column with its REFERENCES, not a constraint
        op.execute('ALTER TABLE message ADD COLUMN variant_id INTEGER '
                   'REFERENCES experiment_variant (id) ON DELETE SET NULL')
    else:
        op.add_column('message', sa.Column('variant_id', sa.Integer(), nullable=True))
        op.create_foreign_key('message_variant_id_fkey', 'message', 'experiment_variant',
                              ['variant_id'], ['id'], ondelete='SET NULL')
    op.create_index('ix_message_variant_id', 'message', ['variant_id'])


def downgrade():
    op.drop_index('ix_message_variant_id', table_name='message')
    if op.get_context().dialect.name != 'sqlite':
        op.drop_constraint('message_variant_id_fkey', 'message', type_='foreignkey')
    op.drop_column('message', 'variant_id')
    op.drop_table('experiment_variant')
    op.drop_index('uq_experiment_running_subject', table_name='experiment')
    op.drop_index('ix_experiment_store_id', table_name='experiment')
    op.drop_table('experiment')
