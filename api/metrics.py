"""Prometheus metrics, one registry per app so tests can build many apps in one process."""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    http_request_seconds: Histogram
    embedding_batch_size: Histogram
    embedding_batch_seconds: Histogram
    embedding_queue_depth: Gauge
    embedding_cache: Counter
    search_seconds: Histogram

    def render(self) -> bytes:
        return generate_latest(self.registry)


def create_metrics() -> Metrics:
    registry = CollectorRegistry()
    return Metrics(
        registry=registry,
        http_request_seconds=Histogram(
            "mnemolite_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        embedding_batch_size=Histogram(
            "mnemolite_embedding_batch_size",
            "Number of texts encoded in one model call.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        ),
        embedding_batch_seconds=Histogram(
            "mnemolite_embedding_batch_duration_seconds",
            "Time spent in one model call.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        embedding_queue_depth=Gauge(
            "mnemolite_embedding_queue_depth",
            "Texts waiting for the embedding model.",
            ["model"],
            registry=registry,
        ),
        embedding_cache=Counter(
            "mnemolite_embedding_query_cache_total",
            "Query embedding cache lookups by result (hit or miss).",
            ["model", "result"],
            registry=registry,
        ),
        search_seconds=Histogram(
            "mnemolite_search_duration_seconds",
            "Search latency inside the service, by mode.",
            ["mode"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
    )
