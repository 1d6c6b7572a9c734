"""kb tables: draft items, versions, version items, tenant pointer, graph

Revision ID: 0003_kb
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_kb"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kb_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("faq_id", sa.String(length=128), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("similar", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(length=128), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("valid_from", sa.Float(), nullable=True),
        sa.Column("valid_to", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "faq_id", name="uq_kb_item"),
    )
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_items_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "kb_tenants",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("live_version", sa.Integer(), nullable=True),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("draft_updated_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "kb_versions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("embedder_version", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version"),
    )
    op.create_table(
        "kb_version_items",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("faq_id", sa.String(length=128), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", "faq_id"),
    )
    op.create_table(
        "kg_triples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("relation", sa.String(length=200), nullable=False),
        sa.Column("object", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kg_triples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kg_triples_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "kg_aliases",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("entity", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "alias"),
    )


def downgrade() -> None:
    op.drop_table("kg_aliases")
    with op.batch_alter_table("kg_triples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kg_triples_tenant_id"))
    op.drop_table("kg_triples")
    op.drop_table("kb_version_items")
    op.drop_table("kb_versions")
    op.drop_table("kb_tenants")
    with op.batch_alter_table("kb_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_items_tenant_id"))
    op.drop_table("kb_items")
