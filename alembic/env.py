"""Alembic environment: synchronous psycopg2 with NullPool; migrations are raw SQL."""

from logging.config import fileConfig

from sqlalchemy import create_engine, pool

from alembic import context
from api.core.config import get_settings
from api.core.database import resolve_database_url

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _sqlalchemy_url() -> str:
    """The caller's URL, else the service's own (which may start the embedded server)."""
    url = config.attributes.get("database_url") or resolve_database_url(get_settings())
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2{sep}{rest}" if scheme in ("postgres", "postgresql") else url


def run_migrations_offline() -> None:
    context.configure(url=_sqlalchemy_url(), literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_sqlalchemy_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
