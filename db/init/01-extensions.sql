-- Run by the postgres image on the first start of an empty data volume, in POSTGRES_DB.
-- Extensions only: Alembic owns the schema (its migrations create these too, idempotently).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
