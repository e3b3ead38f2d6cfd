"""Service settings, read from the environment (and `.env`) once per process."""

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.core.hosts import parse_host_list

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_TEXT_FIELDS = ("text", "body", "message", "content", "title")
# A full commit id of a model hub repository.
COMMIT_PATTERN = r"^[0-9a-f]{40}$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # Database
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: start the embedded PostgreSQL under DATA_DIR.",
    )
    data_dir: Path = Field(
        default=Path(".data"), description="Where the embedded server keeps data."
    )
    database_name: str = Field(
        default="mnemolite", description="Database created on the embedded server."
    )
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    # Read replicas (api/core/replication/): several URLs are separated by spaces, because a
    # multi-host URL has commas of its own.
    read_database_url: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Hot standbys that serve searches and reads (space-separated URLs); "
        "writes and the reads of a tenant that has just written go to DATABASE_URL.",
    )
    read_replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A standby further behind its primary than this serves no reads.",
    )
    read_replica_poll_seconds: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="How often each standby's replay position and the primary's are read.",
    )

    # Embeddings
    embedding_mode: Literal["real", "mock"] = "real"
    embedding_model: str = DEFAULT_MODEL
    code_embedding_model: str = DEFAULT_MODEL
    embedding_dimension: int = Field(default=384, gt=0, le=16_000)
    code_embedding_dimension: int | None = Field(default=None, gt=0, le=16_000)
    embedding_device: str = "cpu"
    embedding_batch_size: int = Field(default=32, ge=1, le=1024)
    embedding_batch_wait_ms: float = Field(default=2.0, ge=0, le=1000)
    embedding_cache_size: int = Field(default=1024, ge=0)
    embedding_trust_remote_code: bool | None = None
    # Commits, not branch names: remote code runs only when pinned (api/embeddings/transformer.py).
    embedding_model_revision: str | None = Field(
        default=None,
        pattern=COMMIT_PATTERN,
        description="Hub commit (40 hex) EMBEDDING_MODEL is loaded at; required when the model "
        "runs remote code (trust_remote_code), unless it is a local directory.",
    )
    embedding_model_code_revision: str | None = Field(
        default=None,
        pattern=COMMIT_PATTERN,
        description="Commit of the repository EMBEDDING_MODEL's remote code comes from, when "
        "its config.json names another one (nomic-ai/nomic-bert-2048); unset: the model's own.",
    )
    code_embedding_model_revision: str | None = Field(
        default=None,
        pattern=COMMIT_PATTERN,
        description="Hub commit CODE_EMBEDDING_MODEL is loaded at (see EMBEDDING_MODEL_REVISION).",
    )
    code_embedding_model_code_revision: str | None = Field(
        default=None,
        pattern=COMMIT_PATTERN,
        description="Commit of the repository CODE_EMBEDDING_MODEL's remote code comes from "
        "(jinaai/jina-bert-v2-qk-post-norm); unset: the model's own.",
    )
    embedding_text_fields: Annotated[tuple[str, ...], NoDecode] = DEFAULT_TEXT_FIELDS

    # Expired events (expires_at / ttl_seconds) leave every read at once; the purge deletes
    # them every EXPIRY_PURGE_INTERVAL_SECONDS (0: never, in this process), in batches.
    expiry_purge_interval_seconds: float = Field(default=60.0, ge=0)
    expiry_purge_batch: int = Field(default=500, ge=1, le=100_000)

    # Vector index and search
    hnsw_m: int = Field(default=16, ge=2, le=100)
    hnsw_ef_construction: int = Field(default=64, ge=4, le=1000)
    hnsw_ef_search: int = Field(default=64, ge=1, le=1000)
    # What the HNSW indexes hold: vector (4 bytes a dimension) or halfvec (2: the index is about
    # half the size, recall within 0.004, docs/scaling.md). The rows keep full vectors, so
    # distances and exact search are unchanged. Read by the migrations (like HNSW_M) and by
    # `make hnsw-storage`, which rebuilds the indexes of a migrated database to match.
    hnsw_storage: Literal["vector", "halfvec"] = "vector"
    search_exact_max_rows: int = Field(default=5_000, ge=0)
    search_candidate_pool: int = Field(default=50, ge=1, le=1000)
    # auto: BM25 where the database has its indexes, else ts_rank. ts_rank: always the web-search
    # form (every word, "phrases", -not), also where BM25 could rank.
    search_lexical_ranking: Literal["auto", "ts_rank"] = "auto"

    # Limits
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_batch_events: int = Field(default=1000, ge=1)
    code_index_max_files: int = Field(default=500, ge=1)
    code_index_max_file_bytes: int = Field(default=1_000_000, ge=1)
    code_index_max_file_chunks: int = Field(
        default=2_000,
        ge=1,
        le=100_000,
        description="A file with more units than this (functions, classes...) is indexed as "
        "line windows, at most this many: its chunks are written in one statement.",
    )
    code_index_file_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Longest one file may take to parse (in a worker process, which is killed "
        "and replaced past it); the file is then reported in the result's errors.",
    )
    code_index_parse_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes that parse code files, per API or worker process; leave "
        "the API a core of its own.",
    )
    code_upload_max_unpacked_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1024,
        description="Most bytes the archives of one UI upload may unpack to, counted while "
        "decompressing (headers and skipped members too); ten times MAX_REQUEST_BYTES's default.",
    )
    index_worker_in_process: bool = True
    index_worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    # Access control
    api_key: SecretStr | None = Field(
        default=None, description="Required on /v1, /ui, /docs... when set; unset: open."
    )
    metrics_public: bool = True
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Host names served besides localhost, 127.0.0.1, [::1] and HOST's own "
        "address (comma-separated; * serves any name and gives up the DNS-rebinding defence).",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("127.0.0.1", "::1"),
        description="Addresses or networks whose X-Forwarded-Proto and X-Forwarded-For are "
        "believed (a TLS proxy; comma-separated, * trusts any, empty trusts none).",
    )

    # Tenant quotas: defaults for every tenant (0 = no limit); a tenant's own settings
    # (PATCH /v1/admin/tenants/{name}) override them.
    tenant_max_events: int = Field(default=0, ge=0, description="Events a tenant may hold.")
    tenant_max_code_chunks: int = Field(
        default=0, ge=0, description="Code chunks a tenant may hold."
    )
    tenant_requests_per_second: float = Field(
        default=0, ge=0, description="Requests per second of a tenant's keys (token bucket)."
    )
    tenant_request_burst: int = Field(
        default=0, ge=0, description="Bucket size; 0: twice the rate (at least 1)."
    )

    # Server
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    @field_validator(
        "database_url",
        "api_key",
        "embedding_model_revision",
        "embedding_model_code_revision",
        "code_embedding_model_revision",
        "code_embedding_model_code_revision",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key")
    @classmethod
    def _header_safe_key(cls, value: SecretStr | None) -> SecretStr | None:
        key = value.get_secret_value() if value is not None else ""
        if value is not None and not (key.isascii() and key.isprintable() and " " not in key):
            # It travels in an HTTP header: anything else would never match what clients send.
            raise ValueError("API_KEY must be printable ASCII without spaces")
        return value

    @field_validator("read_database_url", mode="before")
    @classmethod
    def _space_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split()
        return tuple(dict.fromkeys(str(url).strip() for url in value if str(url).strip()))

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        return parse_host_list(_comma_separated(value))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_addresses(cls, value: Any) -> Any:
        entries = tuple(dict.fromkeys(_comma_separated(value)))
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES entry {entry!r} is not an IP address or network "
                    "(such as 127.0.0.1, 10.0.0.0/8 or ::1), nor *"
                ) from None
        return entries

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("embedding_mode", mode="before")
    @classmethod
    def _known_mode(cls, value: Any) -> Any:
        mode = value.strip().lower() if isinstance(value, str) else value
        if mode not in ("real", "mock"):
            raise ValueError(f"EMBEDDING_MODE must be 'real' or 'mock', got {value!r}")
        return mode

    @field_validator("embedding_text_fields", mode="before")
    @classmethod
    def _split_fields(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        fields = tuple(part for part in value if part)
        if not fields:
            raise ValueError("EMBEDDING_TEXT_FIELDS must name at least one content field")
        return fields

    @model_validator(mode="after")
    def _consistent(self) -> "Settings":
        code_dim = self.code_embedding_dimension
        if code_dim is not None and code_dim != self.embedding_dimension:
            raise ValueError(
                f"CODE_EMBEDDING_DIMENSION ({code_dim}) must equal EMBEDDING_DIMENSION "
                f"({self.embedding_dimension}): both models share one vector column size"
            )
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def embedded_data_dir(self) -> Path:
        return self.data_dir / "postgres"


def _comma_separated(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    elif not isinstance(value, list | tuple | set | frozenset):
        raise ValueError("expected a comma-separated list")
    return [str(part).strip() for part in value if str(part).strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
