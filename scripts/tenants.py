"""`make tenant|tenants|key|keys|rotate-key|revoke-key`: tenants and their API keys from a shell.

Works on the service's database directly (DATABASE_URL, else the embedded server), as the
operator: no running service and no API_KEY needed. The same service functions as the admin API
(`/v1/admin/...`, docs/api.md), so the rules are the same: a key's secret is printed once, by
`key` and `rotate-key`, and never stored.

Usage:
  python -m scripts.tenants create NAME
  python -m scripts.tenants list
  python -m scripts.tenants delete NAME --yes
  python -m scripts.tenants key TENANT --role read|write|admin [--label TEXT] [--expires ISO]
  python -m scripts.tenants keys TENANT
  python -m scripts.tenants rotate TENANT KEY_ID
  python -m scripts.tenants revoke TENANT KEY_ID
  python -m scripts.tenants lexical-index TENANT [--drop]
  python -m scripts.tenants lexical-indexes [--prune]

`lexical-index` gives a large tenant a BM25 index of its own (docs/operations.md, "A large
tenant's own BM25 index"); it builds while the service runs and writes go on. `delete` drops
the tenant's own index too; `lexical-indexes --prune` drops those of tenants deleted otherwise
(through the admin API, whose role may not drop an index).
"""

import argparse
import asyncio
import sys
from datetime import datetime
from uuid import UUID

import asyncpg
from pydantic import ValidationError

from api.core.config import get_settings
from api.core.database import Database, TenantConnection, asyncpg_dsn, init_connection
from api.core.errors import AppError
from api.core.lexical import service as lexical
from api.core.log_setup import configure_logging
from api.core.metrics import create_metrics
from api.core.schema.service import SchemaMismatch, ensure_schema
from api.core.tenancy import service
from api.core.tenancy.schemas import KeyCreate, KeyCreated, TenantCreate
from api.ops.backup.target import OperationFailed, service_database


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description="Tenants and their API keys.",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="create a tenant").add_argument("name")
    commands.add_parser("list", help="list the tenants")
    delete = commands.add_parser("delete", help="delete a tenant and all it owns")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="required: this cannot be undone")
    key = commands.add_parser("key", help="create a key (its secret is printed once)")
    key.add_argument("tenant")
    key.add_argument("--role", required=True, choices=["read", "write", "admin"])
    key.add_argument("--label")
    key.add_argument("--expires", type=datetime.fromisoformat, help="ISO 8601, with a zone")
    commands.add_parser("keys", help="list a tenant's keys").add_argument("tenant")
    for name, text in (("rotate", "a new secret for a key"), ("revoke", "revoke a key now")):
        command = commands.add_parser(name, help=text)
        command.add_argument("tenant")
        command.add_argument("key_id", type=UUID)
    own = commands.add_parser("lexical-index", help="give a tenant its own BM25 index")
    own.add_argument("tenant")
    own.add_argument("--drop", action="store_true", help="drop it instead")
    listed = commands.add_parser("lexical-indexes", help="list the tenants' own BM25 indexes")
    listed.add_argument("--prune", action="store_true", help="drop deleted tenants' indexes")
    return top


async def run(args: argparse.Namespace, url: str, dimension: int) -> str:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=1,
        max_size=2,
        init=init_connection,
        connection_class=TenantConnection,
    )
    try:
        async with pool.acquire() as conn:
            await ensure_schema(conn, dimension=dimension)
        database = Database(pool, create_metrics())
        if args.command == "create":
            created = await service.create_tenant(database, TenantCreate(name=args.name).name)
            return f"tenant {created.name} created ({created.id})"
        if args.command == "list":
            listed = await service.list_tenants(database)
            return "\n".join(f"{t.name}\t{t.id}\t{t.created_at:%Y-%m-%d}" for t in listed.tenants)
        if args.command == "delete":
            if not args.yes:
                return "refused: deleting a tenant deletes all it owns; add --yes"
            deleted = await service.tenant_named(database, args.name)
            await service.delete_tenant(database, args.name)
            async with pool.acquire() as conn:
                await lexical.drop_tenant_index(conn, deleted.id)
            return f"tenant {args.name} deleted"
        if args.command == "lexical-indexes":
            async with pool.acquire() as conn:
                return await tenant_indexes(conn, prune=args.prune)
        tenant = await service.tenant_named(database, args.tenant)
        if args.command == "lexical-index":
            async with pool.acquire() as conn:
                if args.drop:
                    dropped = await lexical.drop_tenant_index(conn, tenant.id)
                    return f"{tenant.name}'s own BM25 index " + ("dropped" if dropped else "absent")
                name = await lexical.create_tenant_index(conn, tenant.id)
                return f"{tenant.name} has its own BM25 index, {name}"
        if args.command == "key":
            request = KeyCreate(role=args.role, label=args.label, expires_at=args.expires)
            return shown(await service.create_key(database, tenant.id, request))
        if args.command == "keys":
            keys = (await service.list_keys(database, tenant.id)).keys
            return "\n".join(
                f"{k.id}\t{k.prefix}...\t{k.role}\t{k.label or ''}\t"
                f"last used {k.last_used_at or 'never'}\t"
                + ("revoked" if k.revoked_at else f"expires {k.expires_at or 'never'}")
                for k in keys
            )
        if args.command == "rotate":
            return shown(await service.rotate_key(database, tenant.id, args.key_id))
        await service.revoke_key(database, tenant.id, args.key_id)
        return f"key {args.key_id} revoked"
    finally:
        await pool.close()


async def tenant_indexes(conn: asyncpg.Connection, *, prune: bool) -> str:
    lines = []
    for index in await lexical.tenant_indexes(conn):
        if prune and index.tenant is None:
            await lexical.drop_tenant_index(conn, index.tenant_id)
            lines.append(f"{index.name}\tdropped (tenant {index.tenant_id} deleted)")
            continue
        state = "ready" if index.valid else "building, or failed: run lexical-index again"
        owner = index.tenant or f"(deleted) {index.tenant_id}"
        lines.append(f"{index.name}\t{owner}\t{index.bytes // 1024} KiB\t{state}")
    return "\n".join(lines) or "no tenant has its own BM25 index"


def shown(created: KeyCreated) -> str:
    return f"key {created.id} ({created.role}) created. Its secret, shown only now:\n{created.key}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    configure_logging("warning", settings.log_format)
    try:
        with service_database(settings) as target:
            print(asyncio.run(run(args, target.libpq_url(), settings.embedding_dimension)))
    except (AppError, ValidationError) as error:
        detail = error.detail if isinstance(error, AppError) else error.errors()[0]["msg"]
        print(f"error: {detail}", file=sys.stderr)
        return 1
    except (OperationFailed, SchemaMismatch, OSError, asyncpg.PostgresError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
