"""heartbeat timing: the rhythm of a study session's reports (count, sum and sum of squares
of the intervals between them), for the machine-regular timing signal

Revision ID: 0021_heartbeat_timing
Revises: 0014_study_evidence
Create Date: 2026-12-02 04:05:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_heartbeat_timing"
down_revision = "0014_study_evidence"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("report_intervals", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("report_interval_sum_ms", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column(
                "report_interval_squares_ms2", sa.BigInteger(), nullable=False, server_default="0"
            )
        )


def downgrade():
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.drop_column("report_interval_squares_ms2")
        batch_op.drop_column("report_interval_sum_ms")
        batch_op.drop_column("report_intervals")
