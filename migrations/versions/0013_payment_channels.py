"""payment channels: WeChat Pay Native and H5, Alipay, a channel on every payment, WeChat Pay
consumer complaints

Revision ID: 0013_payment_channels
Revises: 0011_security_privacy
Create Date: 2026-12-02 01:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0013_payment_channels"
down_revision = "0011_security_privacy"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "pay_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("pay_url", sa.Text(), nullable=True),
        sa.Column("pay_url_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "channel"),
        sa.UniqueConstraint("out_trade_no"),
    )
    with op.batch_alter_table("pay_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pay_attempts_order_id"), ["order_id"], unique=False)
    # Orders prepaid before channels existed were prepaid by JSAPI, under their own number.
    op.execute(
        "INSERT INTO pay_attempts (order_id, channel, out_trade_no, created_at, updated_at) "
        "SELECT id, 'wechat_jsapi', out_trade_no, created_at, updated_at FROM orders "
        "WHERE prepay_id IS NOT NULL"
    )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "transaction_id",
            existing_type=sa.String(length=32),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column(
                "channel", sa.String(length=20), server_default="wechat_jsapi", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("duplicate", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_refunds_payment_id_payments"), "payments", ["payment_id"], ["id"]
        )

    op.create_table(
        "pay_complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("out_trade_no", sa.String(length=64), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("problem_type", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("refund_asked_fen", sa.Integer(), nullable=True),
        sa.Column("complained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", _JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("complaint_id"),
    )
    with op.batch_alter_table("pay_complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pay_complaints_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_pay_complaints_state"), ["state"], unique=False)


def downgrade():
    with op.batch_alter_table("pay_complaints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pay_complaints_state"))
        batch_op.drop_index(batch_op.f("ix_pay_complaints_order_id"))
    op.drop_table("pay_complaints")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_refunds_payment_id_payments"), type_="foreignkey")
        batch_op.drop_column("payment_id")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("duplicate")
        batch_op.drop_column("channel")
        batch_op.alter_column(
            "transaction_id",
            existing_type=sa.String(length=64),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
    with op.batch_alter_table("pay_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pay_attempts_order_id"))
    op.drop_table("pay_attempts")
