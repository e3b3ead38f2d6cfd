"""Prometheus metrics, one registry per app so tests can build many apps in one process.

Every name is listed, with its labels and meaning, in docs/operations.md (Observability); the
Grafana dashboard in docs/grafana/ uses them and a test keeps the two in step.
"""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

import api

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# An index job takes from a fraction of a second (one file) to an hour (a large repository on CPU).
# How many tenants get a label of their own in mnemolite_tenant_requests_total.
TENANT_LABELS = 50
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    build_info: Info
    http_request_seconds: Histogram
    embedding_batch_size: Histogram
    embedding_batch_seconds: Histogram
    embedding_queue_depth: Gauge
    embedding_cache: Counter
    search_seconds: Histogram
    code_search_seconds: Histogram
    index_jobs_finished: Counter
    index_job_seconds: Histogram
    index_job_files: Counter
    index_job_chunks: Counter
    index_jobs: Gauge
    index_jobs_oldest_seconds: Gauge
    db_pool_size: Gauge
    db_pool_min_size: Gauge
    db_pool_max_size: Gauge
    db_pool_idle: Gauge
    db_pool_in_use: Gauge
    db_pool_acquire_seconds: Histogram
    db_reads: Counter
    replica_up: Gauge
    replica_lag_seconds: Gauge
    replica_lag_bytes: Gauge
    tenants: Gauge
    tenant_requests: Counter
    quota_refusals: Counter
    events_expired: Counter
    # The tenants named in tenant_requests' labels: the first TENANT_LABELS seen by this
    # process; the rest are counted as "other", so the label set stays bounded.
    named_tenants: set[str] = field(default_factory=set)

    def tenant_label(self, name: str) -> str:
        if name in self.named_tenants:
            return name
        if len(self.named_tenants) < TENANT_LABELS:
            self.named_tenants.add(name)
            return name
        return "other"

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def set_build_info(self, *, text_model: str, code_model: str, dimension: int) -> None:
        self.build_info.info(
            {
                "version": api.__version__,
                "text_model": text_model,
                "code_model": code_model,
                "dimension": str(dimension),
            }
        )


def create_metrics() -> Metrics:
    registry = CollectorRegistry()

    def histogram(name: str, doc: str, labels: list[str], buckets: tuple[float, ...]) -> Histogram:
        return Histogram(name, doc, labels, buckets=buckets, registry=registry)

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
        return Counter(name, doc, labels, registry=registry)

    return Metrics(
        registry=registry,
        build_info=Info(
            "mnemolite_build",
            "The running version, its text and code models and the vector dimension.",
            registry=registry,
        ),
        http_request_seconds=histogram(
            "mnemolite_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            LATENCY_BUCKETS,
        ),
        embedding_batch_size=histogram(
            "mnemolite_embedding_batch_size",
            "Number of texts encoded in one model call.",
            ["model"],
            BATCH_BUCKETS,
        ),
        embedding_batch_seconds=histogram(
            "mnemolite_embedding_batch_duration_seconds",
            "Time spent in one model call.",
            ["model"],
            LATENCY_BUCKETS,
        ),
        embedding_queue_depth=gauge(
            "mnemolite_embedding_queue_depth", "Texts waiting for the embedding model.", ("model",)
        ),
        embedding_cache=counter(
            "mnemolite_embedding_query_cache_total",
            "Query embedding cache lookups by result (hit or miss).",
            ("model", "result"),
        ),
        search_seconds=histogram(
            "mnemolite_search_duration_seconds",
            "Event search latency inside the service, by mode.",
            ["mode"],
            LATENCY_BUCKETS,
        ),
        code_search_seconds=histogram(
            "mnemolite_code_search_duration_seconds",
            "Code search latency inside the service, by mode (hybrid, lexical, vector).",
            ["mode"],
            LATENCY_BUCKETS,
        ),
        index_jobs_finished=counter(
            "mnemolite_index_jobs_finished_total",
            "Index jobs this process finished, by status (succeeded or failed).",
            ("status",),
        ),
        index_job_seconds=histogram(
            "mnemolite_index_job_duration_seconds",
            "Time from claiming an index job to finishing it, by status.",
            ["status"],
            JOB_BUCKETS,
        ),
        index_job_files=counter(
            "mnemolite_index_job_files_total",
            "Files handled by index jobs, by result (indexed, unchanged, skipped, failed).",
            ("result",),
        ),
        index_job_chunks=counter(
            "mnemolite_index_job_chunks_total", "Code chunks written by index jobs."
        ),
        index_jobs=gauge(
            "mnemolite_index_jobs",
            "Index jobs queued or running in the database (read at scrape time).",
            ("status",),
        ),
        index_jobs_oldest_seconds=gauge(
            "mnemolite_index_jobs_oldest_age_seconds",
            "Age of the oldest queued job (since queued) and running job (since started).",
            ("status",),
        ),
        tenants=gauge("mnemolite_tenants", "Tenants in the database (read at scrape time)."),
        tenant_requests=counter(
            "mnemolite_tenant_requests_total",
            f"Requests admitted, by tenant: the first {TENANT_LABELS} tenants this process "
            "served are named, the rest counted as `other`.",
            ("tenant",),
        ),
        quota_refusals=counter(
            "mnemolite_quota_refusals_total",
            "Requests refused with 429 by a tenant's request rate (kind=rate).",
            ("kind",),
        ),
        events_expired=counter(
            "mnemolite_events_expired_purged_total",
            "Expired events deleted by the purge (api/memory/events/expiry.py).",
        ),
        db_pool_size=gauge("mnemolite_db_pool_size", "Connections the pool holds open."),
        db_pool_min_size=gauge("mnemolite_db_pool_min_size", "DB_POOL_MIN_SIZE."),
        db_pool_max_size=gauge("mnemolite_db_pool_max_size", "DB_POOL_MAX_SIZE."),
        db_pool_idle=gauge("mnemolite_db_pool_idle_connections", "Open connections not lent out."),
        db_pool_in_use=gauge("mnemolite_db_pool_in_use_connections", "Connections lent out."),
        db_pool_acquire_seconds=histogram(
            "mnemolite_db_pool_acquire_duration_seconds",
            "Time a request waited for a pool connection.",
            [],
            LATENCY_BUCKETS,
        ),
        db_reads=counter(
            "mnemolite_db_reads_total",
            "Read connections handed out, by server (primary or a replica's name).",
            ("server",),
        ),
        replica_up=gauge(
            "mnemolite_read_replica_up",
            "1 while a read replica answers as a standby within READ_REPLICA_MAX_LAG_SECONDS.",
            ("replica",),
        ),
        replica_lag_seconds=gauge(
            "mnemolite_read_replica_lag_seconds",
            "Age of the newest primary position a read replica is known to have replayed.",
            ("replica",),
        ),
        replica_lag_bytes=gauge(
            "mnemolite_read_replica_lag_bytes",
            "WAL bytes between the primary's position and a read replica's replay position.",
            ("replica",),
        ),
    )
