"""lead: INN and the company's full name, to match the company at conversion

Revision ID: 7c1e5a2d9f40
Revises: 4b5bda9430f9
Create Date: 2026-11-30 22:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1e5a2d9f40'
down_revision = 'dd72f6b22f0f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.add_column(sa.Column('company_full_name', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('inn', sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f('ix_lead_inn'), ['inn'], unique=False)


def downgrade():
    with op.batch_alter_table('lead', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_inn'))
        batch_op.drop_column('inn')
        batch_op.drop_column('company_full_name')
