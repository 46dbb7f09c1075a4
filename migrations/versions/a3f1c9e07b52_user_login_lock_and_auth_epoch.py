"""ab_user: the sign-in lock after wrong passwords, and the epoch of sessions and tokens

Revision ID: a3f1c9e07b52
Revises: 7c1e5a2d9f40
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a3f1c9e07b52'
down_revision = '7c1e5a2d9f40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_locked_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('auth_epoch', sa.Integer(), server_default='0',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('ab_user', schema=None) as batch_op:
        batch_op.drop_column('auth_epoch')
        batch_op.drop_column('login_locked_until')
