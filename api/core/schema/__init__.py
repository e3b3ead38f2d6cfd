"""The schema check every entry point runs: migrated by Alembic, vectors sized for the models."""
