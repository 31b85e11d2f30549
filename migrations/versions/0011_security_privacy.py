"""security and privacy: consents, deletion requests, erased accounts, deleted screenshots

Revision ID: 0011_security_privacy
Revises: 0008_template_receipts
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_security_privacy"
down_revision = "0008_template_receipts"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deletion_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "completed",
                "declined",
                name="deletionstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_deletion_requests_learner_id_learners")
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff_users.id"], name=op.f("fk_deletion_requests_staff_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_requests")),
    )
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_requests_learner_id"), ["learner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deletion_requests_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_deletion_requests_open",
            ["learner_id"],
            unique=True,
            postgresql_where=sa.text("status = 'requested'"),
            sqlite_where=sa.text("status = 'requested'"),
        )

    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("notice_version", sa.String(length=20), nullable=False),
        sa.Column("occasion", sa.String(length=20), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["learners.id"], name=op.f("fk_privacy_consents_learner_id_learners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consents")),
    )
    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_consents_learner_id"), ["learner_id"], unique=False
        )

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("makeup_applications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("screenshot_deleted_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("makeup_applications", schema=None) as batch_op:
        batch_op.drop_column("screenshot_deleted_at")

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("erased_at")

    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_consents_learner_id"))

    op.drop_table("privacy_consents")
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_deletion_requests_open",
            postgresql_where=sa.text("status = 'requested'"),
            sqlite_where=sa.text("status = 'requested'"),
        )
        batch_op.drop_index(batch_op.f("ix_deletion_requests_status"))
        batch_op.drop_index(batch_op.f("ix_deletion_requests_learner_id"))

    op.drop_table("deletion_requests")
