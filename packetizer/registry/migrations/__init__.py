"""Alembic migrations of the registry (a package so the wheel carries them)."""
