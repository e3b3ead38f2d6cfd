"""Database URLs for pg_dump/pg_restore: the password kept out of argv and out of output."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.ops.backup.pg_tools import embedded_bin_dir, find_bin_dir
from api.ops.backup.service import default_backup_path
from api.ops.backup.target import OperationFailed, derived_name, parse_target


def test_password_is_split_from_the_url():
    target = parse_target("postgresql://mnemolite:p%40ss%3Aword@db:5432/mnemolite?sslmode=require")
    assert target.url == "postgresql://mnemolite@db:5432/mnemolite?sslmode=require"
    assert target.password == "p@ss:word"
    assert target.database == "mnemolite"
    assert target.display == "postgresql://mnemolite:***@db:5432/mnemolite?sslmode=require"
    assert target.libpq_url() == (
        "postgresql://mnemolite:p%40ss%3Aword@db:5432/mnemolite?sslmode=require"
    )


def test_password_in_the_query_is_moved_out_too():
    target = parse_target("postgres://app@db/memories?password=hunter2&connect_timeout=5")
    assert target.password == "hunter2"
    assert "hunter2" not in target.url and "hunter2" not in target.display
    assert target.url == "postgres://app@db/memories?connect_timeout=5"


def test_embedded_socket_url_and_driver_suffix():
    target = parse_target("postgresql+psycopg2://postgres:@/mnemolite?host=/tmp/pg")
    assert target.url == "postgresql://postgres@/mnemolite?host=/tmp/pg"
    assert target.password is None
    assert target.display == target.url


def test_other_database_on_the_same_server():
    target = parse_target("postgresql://u:pw@db/x?dbname=x&sslmode=disable")
    other = target.with_database("postgres")
    assert other.url == "postgresql://u@db/postgres?sslmode=disable"
    assert other.password == "pw" and other.database == "postgres"


def test_url_without_a_database_or_of_another_kind_is_refused():
    with pytest.raises(OperationFailed, match="must name a database"):
        parse_target("postgresql://u:pw@db:5432")
    with pytest.raises(OperationFailed, match="postgresql://"):
        parse_target("mysql://u:pw@db/x")


def test_derived_names_fit_in_an_identifier():
    assert derived_name("mnemolite", "_restoring") == "mnemolite_restoring"
    long = derived_name("d" * 63, "_restoring")
    assert len(long) == 63 and long.endswith("_restoring")


def test_default_backup_name_is_a_utc_timestamp():
    moment = datetime(2026, 11, 21, 14, 5, 9, tzinfo=UTC)
    path = default_backup_path(Path("backups"), moment)
    assert path == Path("backups/mnemolite-20261121T140509Z.dump")


def test_client_programs_come_from_the_wheel_or_the_override(tmp_path, monkeypatch):
    monkeypatch.delenv("PG_BIN_DIR", raising=False)
    wheel = embedded_bin_dir()
    assert wheel is not None and find_bin_dir() == wheel
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path))
    with pytest.raises(OperationFailed, match="pg_dump is missing"):
        find_bin_dir()
    for program in ("pg_dump", "pg_restore"):
        (tmp_path / program).write_text("#!/bin/sh\n")
        (tmp_path / program).chmod(0o755)
    assert find_bin_dir() == tmp_path
    assert find_bin_dir(wheel) == wheel  # the option wins over the environment
