"""数电 invoices through WeChat Pay's fapiao API (application number, state, 红字确认单, card
wallet) and the provincial registry outbox

Revision ID: 0018_fapiao_registry
Revises: 0019_wechat_rules
Create Date: 2026-12-02 03:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0018_fapiao_registry"
down_revision = "0019_wechat_rules"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fapiao_apply_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("fapiao_status", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("red_confirm_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("red_confirm_number", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("card_status", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("provider_error", sa.String(length=300), server_default="", nullable=False)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_invoices_fapiao_apply_id"), ["fapiao_apply_id"]
        )

    op.create_table(
        "registry_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("certificate_number", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("adapter", sa.String(length=20), nullable=False),
        sa.Column("payload", _JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("receipt", sa.String(length=64), nullable=True),
        sa.Column("batch_number", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "certificate_number", name="uq_registry_records_kind_number"),
    )
    with op.batch_alter_table("registry_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_registry_records_certificate_number"),
            ["certificate_number"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_registry_records_learner_id"), ["learner_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_registry_records_batch_number"), ["batch_number"], unique=False
        )
        batch_op.create_index(
            "ix_registry_records_status_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade():
    op.drop_table("registry_records")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_invoices_fapiao_apply_id"), type_="unique")
        batch_op.drop_column("provider_error")
        batch_op.drop_column("card_status")
        batch_op.drop_column("red_confirm_number")
        batch_op.drop_column("red_confirm_status")
        batch_op.drop_column("fapiao_status")
        batch_op.drop_column("fapiao_apply_id")
