"""«Ознакомление»: documents handed to people and departments, each person's confirmation

Revision ID: b7d2e4f1a9c3
Revises: 5edafa1ab945
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e4f1a9c3'
down_revision = '5edafa1ab945'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('acknowledgement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=2000), nullable=True),
    sa.Column('deadline', sa.DateTime(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acknowledgement_author_id'), ['author_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_acknowledgement_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_acknowledgement_status'), ['status'], unique=False)

    op.create_table('acknowledgement_department',
    sa.Column('acknowledgement_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['acknowledgement_id'], ['acknowledgement.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('acknowledgement_id', 'department_id')
    )
    op.create_table('acknowledgement_recipient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('acknowledgement_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledgement_id'], ['acknowledgement.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('acknowledgement_id', 'user_id', name='uq_acknowledgement_recipient')
    )
    with op.batch_alter_table('acknowledgement_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_acknowledgement_recipient_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('acknowledgement_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acknowledgement_recipient_user_id'))

    op.drop_table('acknowledgement_recipient')
    op.drop_table('acknowledgement_department')
    with op.batch_alter_table('acknowledgement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_acknowledgement_status'))
        batch_op.drop_index(batch_op.f('ix_acknowledgement_created_at'))
        batch_op.drop_index(batch_op.f('ix_acknowledgement_author_id'))

    op.drop_table('acknowledgement')
