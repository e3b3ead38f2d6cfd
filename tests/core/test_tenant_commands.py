"""`make tenant`, `make key` and friends: the admin API's rules, from a shell."""

import os
import re
import subprocess
import sys

import asyncpg
import pytest

from api.core.database import set_tenant
from tests.conftest import ROOT


def key_id_in(output: str) -> str:
    found = re.search(r"key ([0-9a-f-]{36})", output)
    assert found, output
    return found.group(1)


def tenants(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "warning"}
    return subprocess.run(
        [sys.executable, "-m", "scripts.tenants", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_tenants_and_keys_from_the_shell(database_url: str, conn: asyncpg.Connection, client):
    made = tenants(database_url, "create", "acme")
    assert made.returncode == 0, made.stderr
    again = tenants(database_url, "create", "acme")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert "acme" in tenants(database_url, "list").stdout

    created = tenants(database_url, "key", "acme", "--role", "write", "--label", "ops")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    key_id = key_id_in(created.stdout)
    assert secret.startswith("mnl_")
    listed = tenants(database_url, "keys", "acme")
    assert key_id in listed.stdout and "write" in listed.stdout and secret not in listed.stdout

    written = await client.post(
        "/v1/events",
        json={"content": {"text": "from the shell"}},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert written.status_code == 201
    rotated = tenants(database_url, "rotate", "acme", key_id)
    assert rotated.returncode == 0, rotated.stderr
    fresh = rotated.stdout.strip().splitlines()[-1]
    old = await client.get("/v1/events", headers={"Authorization": f"Bearer {secret}"})
    assert old.status_code == 401
    new_id = key_id_in(rotated.stdout)
    assert tenants(database_url, "revoke", "acme", new_id).returncode == 0
    assert (
        await client.get("/v1/events", headers={"Authorization": f"Bearer {fresh}"})
    ).status_code == 401

    refused = tenants(database_url, "delete", "acme")
    assert "add --yes" in refused.stdout
    assert tenants(database_url, "delete", "acme", "--yes").returncode == 0
    await set_tenant(conn, None, all_tenants=True)
    assert await conn.fetchval("SELECT count(*) FROM events") == 0
    assert tenants(database_url, "keys", "acme").returncode == 1


async def test_a_tenants_own_bm25_index_from_the_shell(
    database_url: str, conn: asyncpg.Connection, client
):
    if await conn.fetchval("SELECT to_regclass('events_lexical_bm25') IS NULL"):
        pytest.skip("no pg_textsearch on this server: no BM25 index to give a tenant")
    assert tenants(database_url, "create", "acme").returncode == 0
    assert tenants(database_url, "create", "gone").returncode == 0
    assert "no tenant has" in tenants(database_url, "lexical-indexes").stdout
    for name in ("acme", "gone"):
        made = tenants(database_url, "lexical-index", name)
        assert made.returncode == 0 and "events_bm25_" in made.stdout, made.stderr
    listed = tenants(database_url, "lexical-indexes").stdout
    assert "\tacme\t" in listed and "\tgone\t" in listed and "ready" in listed, listed

    # Deleted through the admin API, whose role may not drop an index: pruned later.
    assert (await client.delete("/v1/admin/tenants/gone")).status_code == 204
    assert "(deleted)" in tenants(database_url, "lexical-indexes").stdout
    pruned = tenants(database_url, "lexical-indexes", "--prune").stdout
    assert "dropped" in pruned and "acme" in pruned, pruned
    # Deleted from the shell: its index goes with it.
    assert tenants(database_url, "delete", "acme", "--yes").returncode == 0
    assert "no tenant has" in tenants(database_url, "lexical-indexes").stdout
    assert "absent" in tenants(database_url, "lexical-index", "default", "--drop").stdout
