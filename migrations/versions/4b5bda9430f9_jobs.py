"""jobs: schedule and outbox delivery, notifications

Revision ID: 4b5bda9430f9
Revises: 49813aebf70a
Create Date: 2026-11-29 04:12:12.660090

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b5bda9430f9'
down_revision = '49813aebf70a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=True),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('source_key', sa.String(length=220), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.Column('due_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_key', 'user_id', name='uq_notification_source')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_email', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachments', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('delivered_via', sa.String(length=32), nullable=True))

    with op.batch_alter_table('scheduled_action', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('occurrence', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('remind_at', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_column('remind_at')

    with op.batch_alter_table('scheduled_action', schema=None) as batch_op:
        batch_op.drop_column('occurrence')
        batch_op.drop_column('done_at')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('enqueued_at')

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('delivered_via')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('enqueued_at')
        batch_op.drop_column('attachments')

    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.drop_column('notify_email')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))
        batch_op.drop_index(batch_op.f('ix_notification_created_at'))

    op.drop_table('notification')
