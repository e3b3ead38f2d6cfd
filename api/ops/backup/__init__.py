"""Backup and restore of the service's database with pg_dump / pg_restore (`make backup`)."""
