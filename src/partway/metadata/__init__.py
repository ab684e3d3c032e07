"""Metadata store: schema, migrations and the SQL repository (SQLite by default, PostgreSQL too)."""
