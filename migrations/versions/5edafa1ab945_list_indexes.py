"""Lists: index what they sort and filter by (newest deals and leads, records' open tasks,
a person's open tasks)

Revision ID: 5edafa1ab945
Revises: 3e8c1f5a7b20
Create Date: 2026-12-01 01:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5edafa1ab945'
down_revision = '3e8c1f5a7b20'
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'in_progress')")


def upgrade():
    op.create_index('ix_deal_created_at', 'deal', ['created_at'], unique=False)
    op.create_index('ix_lead_created_at', 'lead', ['created_at'], unique=False)
    op.create_index('ix_task_open_record', 'task', ['record_entity', 'record_id'],
                    unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index('ix_task_assignee_status', 'task', ['assignee_id', 'status'],
                    unique=False)


def downgrade():
    op.drop_index('ix_task_assignee_status', table_name='task')
    op.drop_index('ix_task_open_record', table_name='task')
    op.drop_index('ix_lead_created_at', table_name='lead')
    op.drop_index('ix_deal_created_at', table_name='deal')
