"""Persistence: one SQLAlchemy Core schema for SQLite and PostgreSQL, one query module per aggregate."""
