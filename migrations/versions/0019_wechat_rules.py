"""WeChat's current rules: consents to a deadline 订阅通知 from learners who have not bought

Revision ID: 0019_wechat_rules
Revises: 0013_payment_channels
Create Date: 2026-12-02 03:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019_wechat_rules"
down_revision = "0013_payment_channels"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reminder_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reminder_subscriptions_learner_id"), ["learner_id"], unique=False
        )
        batch_op.create_index(
            "uq_reminder_subscriptions_open",
            ["learner_id", "plan_id"],
            unique=True,
            postgresql_where=sa.text("used_at IS NULL"),
        )


def downgrade():
    with op.batch_alter_table("reminder_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_reminder_subscriptions_open", postgresql_where=sa.text("used_at IS NULL")
        )
        batch_op.drop_index(batch_op.f("ix_reminder_subscriptions_learner_id"))
    op.drop_table("reminder_subscriptions")
