"""The partitioning verdict from measured sizes: pure logic, no database."""

from api.ops.partition.schemas import EventsStorage, PartitionThresholds
from api.ops.partition.service import RETENTION_NOTE, assess, human_bytes

GB = 1024**3
MB = 1024**2


def storage(**overrides: object) -> EventsStorage:
    values: dict[str, object] = {
        "events": 100_000,
        "events_estimated": False,
        "table_bytes": 250 * MB,
        "index_bytes": 260 * MB,
        "hnsw_bytes": 195 * MB,
        "total_bytes": 510 * MB,
        "shared_buffers_bytes": GB,
        "effective_cache_size_bytes": 4 * GB,
        "oldest": None,
        "newest": None,
    }
    values.update(overrides)
    return EventsStorage.model_validate(values)


def test_the_benchmarked_size_is_postponed_with_its_margins():
    readiness = assess(storage(), PartitionThresholds())
    assert readiness.verdict == "postpone"
    assert readiness.reasons == [
        "100,000 events, below 500,000.",
        "The HNSW index (195.0 MB) fills 19% of shared_buffers (1.00 GB).",
    ]
    # ~2 kB of index per event: 1 GB of buffers holds the index of ~525k events.
    assert readiness.advice[0].startswith("At 2.0 kB of HNSW index per event")
    assert "about 525,128 events" in readiness.advice[0]
    assert readiness.advice[-1] == RETENTION_NOTE


def test_event_count_at_the_threshold_triggers():
    readiness = assess(
        storage(events=500_000, events_estimated=True, hnsw_bytes=900 * MB),
        PartitionThresholds(),
    )
    assert readiness.verdict == "consider partitioning"
    assert len(readiness.reasons) == 1
    assert readiness.reasons[0].startswith("500,000 events (estimate): at or above 500,000")


def test_hnsw_index_larger_than_shared_buffers_triggers_even_when_few_events():
    readiness = assess(
        storage(events=100_000, shared_buffers_bytes=128 * MB), PartitionThresholds()
    )
    assert readiness.verdict == "consider partitioning"
    assert len(readiness.reasons) == 1
    assert "no longer fits in shared_buffers (128.0 MB)" in readiness.reasons[0]
    assert "Raise shared_buffers first" in readiness.reasons[0]


def test_both_triggers_are_reported():
    readiness = assess(
        storage(events=2_000_000, hnsw_bytes=4 * GB, shared_buffers_bytes=GB),
        PartitionThresholds(),
    )
    assert readiness.verdict == "consider partitioning"
    assert len(readiness.reasons) == 2


def test_thresholds_are_parameters():
    strict = PartitionThresholds(events=50_000, hnsw_share_of_shared_buffers=0.1)
    readiness = assess(storage(), strict)
    assert readiness.verdict == "consider partitioning"
    assert len(readiness.reasons) == 2
    assert readiness.thresholds == strict


def test_a_small_or_empty_table_gets_no_projection():
    readiness = assess(storage(events=0, hnsw_bytes=16_384), PartitionThresholds())
    assert readiness.verdict == "postpone"
    assert "under 1% of shared_buffers" in readiness.reasons[1]
    assert readiness.advice == [RETENTION_NOTE]


def test_human_bytes():
    assert human_bytes(0) == "0 bytes"
    assert human_bytes(1536) == "1.5 kB"
    assert human_bytes(195 * MB) == "195.0 MB"
    assert human_bytes(3 * GB / 2) == "1.50 GB"
