"""orders: the refund that takes each seat, WeChat Pay notification ids, order notes

Revision ID: 0005_orders
Revises: 0002_districts
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_orders"
down_revision = "0002_districts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("order_seats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refund_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_order_seats_refund_id"), ["refund_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_order_seats_refund_id_refunds"), "refunds", ["refund_id"], ["id"]
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("note", sa.String(length=200), nullable=False, server_default="")
        )

    with op.batch_alter_table("pay_notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event_type", sa.String(length=40), nullable=True))

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_column("submitted_at")

    with op.batch_alter_table("pay_notifications", schema=None) as batch_op:
        batch_op.drop_column("event_type")
        batch_op.drop_column("event_id")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("note")

    with op.batch_alter_table("order_seats", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_order_seats_refund_id_refunds"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_order_seats_refund_id"))
        batch_op.drop_column("refund_id")
