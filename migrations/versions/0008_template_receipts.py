"""template messages: find a delivery receipt's message by WeChat's msgid

Revision ID: 0008_template_receipts
Revises: 0007_paperwork
Create Date: 2026-11-28 03:12:13.693582

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_template_receipts"
down_revision = "0007_paperwork"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("template_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_template_messages_wechat_msgid"), ["wechat_msgid"], unique=False
        )


def downgrade():
    with op.batch_alter_table("template_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_template_messages_wechat_msgid"))
