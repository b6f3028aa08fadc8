"""Alembic migrations of the maintenance database (`propwatch db upgrade`)."""
