"""study evidence: a record of every playback session, a per-plan daily cap of 学时, the
generation of a chapter's progress (raised when staff withdraw its credit)

Revision ID: 0014_study_evidence
Revises: 0018_fapiao_registry
Create Date: 2026-12-02 03:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0014_study_evidence"
down_revision = "0018_fapiao_registry"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "study_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_key", sa.String(length=32), nullable=False),
        sa.Column("learner_id", sa.Integer(), nullable=False),
        sa.Column("chapter_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("heartbeats_accepted", sa.Integer(), nullable=False),
        sa.Column("refusals", _JSON, nullable=False),
        sa.Column("uncounted", _JSON, nullable=False),
        sa.Column("credited_seconds", sa.Integer(), nullable=False),
        sa.Column("media_bytes", sa.BigInteger(), nullable=False),
        sa.Column("questions_asked", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("answer_latencies_ms", _JSON, nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["chapter_id"], ["chapters.id"]),
        sa.ForeignKeyConstraint(["learner_id"], ["learners.id"]),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_key"),
    )
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_study_sessions_chapter_id"), ["chapter_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_study_sessions_started_at"), ["started_at"], unique=False
        )
        batch_op.create_index(
            "ix_study_sessions_learner_chapter", ["learner_id", "chapter_id"], unique=False
        )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("daily_cap_hours", sa.Integer(), nullable=True))
    with op.batch_alter_table("chapter_progress", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("chapter_progress", schema=None) as batch_op:
        batch_op.drop_column("generation")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_column("daily_cap_hours")
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_study_sessions_learner_chapter")
        batch_op.drop_index(batch_op.f("ix_study_sessions_started_at"))
        batch_op.drop_index(batch_op.f("ix_study_sessions_chapter_id"))
    op.drop_table("study_sessions")
