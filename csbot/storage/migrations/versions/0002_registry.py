"""model registry

Revision ID: 0002_registry
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_registry"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_id", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("promoted_at", sa.Float(), nullable=True),
        sa.Column("promoted_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_versions_tenant_role", "model_versions", ["tenant_id", "role", "status"])
    op.create_index(
        "uq_model_versions_serving",
        "model_versions",
        ["tenant_id", "role"],
        unique=True,
        sqlite_where=sa.text("status = 'serving'"),
        postgresql_where=sa.text("status = 'serving'"),
    )


def downgrade() -> None:
    op.drop_index("uq_model_versions_serving", table_name="model_versions")
    op.drop_index("ix_model_versions_tenant_role", table_name="model_versions")
    op.drop_table("model_versions")
