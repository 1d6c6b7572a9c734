"""The one storage layer: SQLAlchemy models, engine/sessions, Alembic migrations."""
