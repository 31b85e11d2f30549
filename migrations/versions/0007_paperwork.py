"""paperwork: invoice reversal (红冲) bookkeeping and the issuing provider

Revision ID: 0007_paperwork
Revises: 0005_orders
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_paperwork"
down_revision = "0005_orders"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("provider", sa.String(length=20), nullable=False, server_default="staff")
        )
        batch_op.add_column(
            sa.Column(
                "reissue_reason",
                sa.Enum("change", "refund", name="reissuereason", native_enum=False, length=20),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("reversal_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("red_invoice_number", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_invoices_status"), ["status"], unique=False)


def downgrade():
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invoices_status"))
        batch_op.drop_column("red_invoice_number")
        batch_op.drop_column("reversal_requested_at")
        batch_op.drop_column("reissue_reason")
        batch_op.drop_column("provider")
