"""chat tables: patterns, pairs, personas

Revision ID: 0004_chat
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_chat"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_patterns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("patterns", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("replies", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", "lang", name="uq_chat_pattern_name"),
    )
    op.create_index("ix_chat_patterns_tenant_id", "chat_patterns", ["tenant_id"])
    op.create_table(
        "chat_pairs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_chat_pairs_tenant_id", "chat_pairs", ["tenant_id"])
    op.create_table(
        "chat_personas",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("bot_name", sa.String(length=100), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("adapter_path", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("chat_personas")
    op.drop_index("ix_chat_pairs_tenant_id", table_name="chat_pairs")
    op.drop_table("chat_pairs")
    op.drop_index("ix_chat_patterns_tenant_id", table_name="chat_patterns")
    op.drop_table("chat_patterns")
