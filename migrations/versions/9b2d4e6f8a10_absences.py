"""Absences and leave balances; the user's deputy («Заместитель»)

Revision ID: 9b2d4e6f8a10
Revises: 40e3091a3ba2
Create Date: 2026-12-01 02:10:49.005010

The rights and menus of the new screens come with `flask crm seed`, as every right does.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9b2d4e6f8a10'
down_revision = '40e3091a3ba2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'absence',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('date_from', sa.Date(), nullable=False),
        sa.Column('date_to', sa.Date(), nullable=False),
        sa.Column('source_entity', sa.String(length=32), nullable=True),
        sa.Column('source_id', sa.Integer(), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source_entity', 'source_id', name='uq_absence_source'),
    )
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.create_index('ix_absence_date_to', ['date_to'], unique=False)
        batch_op.create_index('ix_absence_user_dates', ['user_id', 'date_from', 'date_to'],
                              unique=False)

    op.create_table(
        'leave_balance',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('days_per_year', sa.Integer(), nullable=False),
        sa.Column('carried_over', sa.Integer(), nullable=False),
        sa.Column('adjustment', sa.Integer(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id', 'year', name='uq_leave_balance_user_year'),
    )
    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deputy_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_ab_user_deputy', 'ab_user', ['deputy_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ab_user_deputy', type_='foreignkey')
        batch_op.drop_column('deputy_id')

    op.drop_table('leave_balance')
    with op.batch_alter_table('absence', schema=None) as batch_op:
        batch_op.drop_index('ix_absence_user_dates')
        batch_op.drop_index('ix_absence_date_to')
    op.drop_table('absence')
