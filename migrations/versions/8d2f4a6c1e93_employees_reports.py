"""Employees' reports («Отчёты сотрудников»): the plans an admin edits, the report task of
each employee and period, and a task's kind (a report is closed only with its text)

Revision ID: 8d2f4a6c1e93
Revises: 9b2d4e6f8a10
Create Date: 2026-12-01 02:11:44.319599

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '8d2f4a6c1e93'
down_revision = '9b2d4e6f8a10'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('title_template', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('deadline_time', sa.Time(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('report_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_plan_department_id'), ['department_id'], unique=False)

    op.create_table('report_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['report_plan.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['task.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plan_id', 'user_id', 'period_start', name='uq_report_task_period'),
    sa.UniqueConstraint('task_id')
    )
    with op.batch_alter_table('report_task', schema=None) as batch_op:
        batch_op.create_index('ix_report_task_period_department', ['period_start', 'department_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_task_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_task_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=True))



def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('report_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_task_user_id'))
        batch_op.drop_index(batch_op.f('ix_report_task_plan_id'))
        batch_op.drop_index('ix_report_task_period_department')

    op.drop_table('report_task')
    with op.batch_alter_table('report_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_plan_department_id'))

    op.drop_table('report_plan')
