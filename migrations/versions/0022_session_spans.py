"""session spans: the whole-second spans of a chapter that each study session newly
covered, so that staff can withdraw one session's credit and leave the others'

Revision ID: 0022_session_spans
Revises: 0021_heartbeat_timing
Create Date: 2026-12-02 06:20:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0022_session_spans"
down_revision = "0021_heartbeat_timing"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "covered_spans",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )


def downgrade():
    with op.batch_alter_table("study_sessions", schema=None) as batch_op:
        batch_op.drop_column("covered_spans")
