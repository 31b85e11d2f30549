"""wechat menu: the official account's menu as staff saved it in the console (one row at most;
no row, or no buttons, means the default menu of services/wechat/menu.toml)

Revision ID: 0023_wechat_menu
Revises: 0022_session_spans
Create Date: 2026-12-02 06:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0023_wechat_menu"
down_revision = "0022_session_spans"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wechat_menus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "buttons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_wechat_menus_single_row")),
        sa.ForeignKeyConstraint(
            ["saved_by_id"],
            ["staff_users.id"],
            name=op.f("fk_wechat_menus_saved_by_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wechat_menus")),
    )


def downgrade():
    op.drop_table("wechat_menus")
