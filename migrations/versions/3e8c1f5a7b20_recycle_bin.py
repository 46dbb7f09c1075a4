"""The recycle bin («Корзина»): a batch per deletion; binned records and their files carry
the batch and the time; jobs of a binned record are held by the batch.

Revision ID: 3e8c1f5a7b20
Revises: a3f1c9e07b52
Create Date: 2026-11-30 23:52:27.260299

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3e8c1f5a7b20'
down_revision = 'a3f1c9e07b52'
branch_labels = None
depends_on = None

# Tables of the records that go to the bin (models.base.TrashableMixin).
BINNED = ('attachment', 'company', 'contact', 'customer_order', 'deal', 'event', 'lead', 'task')
# Jobs held while their record is in the bin.
HELD = ('scheduled_action', 'outbox_message')


def upgrade():
    op.create_table('trash_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('deleted_at', sa.DateTime(), nullable=False),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deleted_by_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('trash_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trash_batch_deleted_at'), ['deleted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_trash_batch_deleted_by_id'), ['deleted_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_trash_batch_entity'), ['entity'], unique=False)

    for table in BINNED + HELD:
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in BINNED:
                batch_op.add_column(sa.Column('deleted_at', sa.DateTime(), nullable=True))
                batch_op.create_index(batch_op.f(f'ix_{table}_deleted_at'), ['deleted_at'],
                                      unique=False)
            batch_op.add_column(sa.Column('trash_batch_id', sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_trash_batch_id'), ['trash_batch_id'],
                                  unique=False)
            batch_op.create_foreign_key(f'fk_{table}_trash_batch_id', 'trash_batch',
                                        ['trash_batch_id'], ['id'])


def downgrade():
    for table in reversed(BINNED + HELD):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f'fk_{table}_trash_batch_id', type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_trash_batch_id'))
            batch_op.drop_column('trash_batch_id')
            if table in BINNED:
                batch_op.drop_index(batch_op.f(f'ix_{table}_deleted_at'))
                batch_op.drop_column('deleted_at')

    with op.batch_alter_table('trash_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trash_batch_entity'))
        batch_op.drop_index(batch_op.f('ix_trash_batch_deleted_by_id'))
        batch_op.drop_index(batch_op.f('ix_trash_batch_deleted_at'))

    op.drop_table('trash_batch')
