"""The export format's lines: header and record validation, file scanning, no database."""

import json
import uuid

import pytest

from api.ops.transfer import jsonl
from api.ops.transfer.jsonl import LineError, parse_header, parse_record, record_batches, scan_file
from api.ops.transfer.schemas import CodeChunkRecord, EventRecord, Scan, VectorSpace
from api.ops.transfer.service import needs_embedders

HEADER = {
    "format": "mnemolite",
    "version": 1,
    "exported_at": "2026-01-02T03:04:05Z",
    "text_model": "mock",
    "code_model": "mock",
    "dimension": 3,
}


def event(**changes) -> dict:
    return {
        "type": "event",
        "id": str(uuid.uuid4()),
        "timestamp": "2026-01-02T03:04:05+00:00",
        "content": {"text": "hello"},
        "metadata": {"k": 1},
        "embedding": [0.1, 0.2, 0.3],
        **changes,
    }


def chunk(**changes) -> dict:
    return {
        "type": "code_chunk",
        "id": str(uuid.uuid4()),
        "file_id": str(uuid.uuid4()),
        "repository": "acme",
        "file_path": "a.py",
        "language": "python",
        "kind": "function",
        "name": "f",
        "qualified_name": "f",
        "start_line": 1,
        "end_line": 2,
        "source_code": "def f():\n    pass",
        "metadata": {},
        "embedding_text": [1.0, 0.0, 0.0],
        "embedding_code": None,
        **changes,
    }


def test_header_is_read():
    header = parse_header(json.dumps(HEADER))
    assert header.space == VectorSpace(text_model="mock", code_model="mock", dimension=3)
    assert header.contents == ["events", "code"] and header.repositories is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": "other"}, "format"),
        ({"version": 2}, "version"),
        ({"dimension": 0}, "dimension"),
        ({"exported_at": "2026-01-02T03:04:05"}, "timezone"),
        ({"extra": True}, "extra"),
    ],
)
def test_a_wrong_header_names_the_field(change, expected):
    with pytest.raises(LineError) as error:
        parse_header(json.dumps({**HEADER, **change}))
    assert error.value.line == 1
    assert expected in error.value.message
    assert "expected" in error.value.message  # says what a header looks like


def test_a_header_missing_a_field():
    without = {key: value for key, value in HEADER.items() if key != "dimension"}
    with pytest.raises(LineError, match="dimension: Field required"):
        parse_header(json.dumps(without))


def test_records_are_read_by_type():
    record = parse_record(json.dumps(event()), line=2, dimension=3)
    assert isinstance(record, EventRecord) and record.embedding == [0.1, 0.2, 0.3]
    record = parse_record(json.dumps(chunk()), line=3, dimension=3)
    assert isinstance(record, CodeChunkRecord) and record.embedding_code is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (json.dumps(event(embedding=[0.1, 0.2])), "embedding has 2 dimensions; the header says 3"),
        (json.dumps(chunk(embedding_code=[1, 2, 3, 4])), "embedding_code has 4 dimensions"),
        (json.dumps(event(type="note")), "type"),
        ('{"id": 1}', 'no "type" (one of event, code_file, code_chunk)'),
        (json.dumps(event(id="nope")), "id"),
        (json.dumps(event(timestamp="2026-01-02T03:04:05")), "timezone"),
        (json.dumps(event(surprise=1)), "surprise"),
        (json.dumps(chunk(start_line=5, end_line=2)), "end_line 2 is before start_line 5"),
        (json.dumps(event()).replace("0.1", "NaN"), "finite"),
        ('{"type": "event",', "Invalid JSON"),
        (b'{"type": "event", "content": "\xff"}', "invalid unicode"),
    ],
)
def test_a_wrong_record_is_reported_with_its_line(line, expected):
    with pytest.raises(LineError) as error:
        parse_record(line, line=7, dimension=3)
    assert error.value.line == 7
    assert expected in error.value.message
    assert str(error.value).startswith("line 7: ")


def test_messages_are_short_however_many_errors():
    bad = event(embedding=["x"] * 50)
    with pytest.raises(LineError) as error:
        parse_record(json.dumps(bad), line=2, dimension=3)
    assert "and 47 more" in error.value.message
    assert len(error.value.message) < 400


def write(path, *lines) -> None:
    path.write_text("".join(line if isinstance(line, str) else json.dumps(line) for line in lines))


def test_scan_counts_and_numbers_lines(tmp_path):
    path = tmp_path / "f.jsonl"
    write(
        path,
        json.dumps(HEADER) + "\n",
        json.dumps(event()) + "\n",
        "\n",  # blank lines are ignored but still counted in line numbers
        json.dumps(event(embedding=None)) + "\n",
        "{broken\n",
        json.dumps(chunk()) + "\n",
    )
    scan = scan_file(path)
    assert scan.header is not None and not scan.valid
    assert (scan.events, scan.code_chunks, scan.events_without_embedding) == (2, 1, 1)
    assert scan.invalid_lines == 1 and [p.line for p in scan.problems] == [5]
    assert scan.repositories == ["acme"]
    batches = list(record_batches(path, 3, size=2))
    assert [len(batch) for batch in batches] == [2, 1]  # the broken line is left out


def test_scan_keeps_a_bounded_number_of_problems(tmp_path):
    path = tmp_path / "f.jsonl"
    write(path, json.dumps(HEADER) + "\n", *["{}\n"] * (jsonl.MAX_PROBLEMS + 10))
    scan = scan_file(path)
    assert scan.invalid_lines == jsonl.MAX_PROBLEMS + 10
    assert len(scan.problems) == jsonl.MAX_PROBLEMS


@pytest.mark.parametrize(
    ("text", "expected"), [("", "the file is empty"), ("{}\n", "not a MnemoLite export header")]
)
def test_scan_stops_without_a_header(tmp_path, text, expected):
    path = tmp_path / "f.jsonl"
    path.write_text(text)
    scan = scan_file(path)
    assert scan.header is None and not scan.valid
    assert expected in scan.problems[0].message and scan.problems[0].line == 1


def test_embedders_are_needed_only_to_compute_vectors():
    header = parse_header(json.dumps(HEADER))
    same = header.space
    other_text = same.model_copy(update={"text_model": "other"})
    other_code = same.model_copy(update={"code_model": "other"})
    other_size = same.model_copy(update={"dimension": 4})
    events = Scan(header=header, events=2)
    chunks = Scan(header=header, code_chunks=2)
    assert not needs_embedders(events, same)
    assert needs_embedders(events, other_text) and needs_embedders(events, other_size)
    assert not needs_embedders(events, other_code)  # events have no code vector
    assert needs_embedders(chunks, other_code) and needs_embedders(chunks, other_text)
    assert needs_embedders(Scan(header=header, events=1, events_without_embedding=1), same)
    assert not needs_embedders(Scan(header=header, code_files=3), other_size)


# --- numbers and nesting the API refuses (issue 11, classes 3 and 6) --------------------------

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


def raw_event(content: str = '{"text": "x"}', metadata: str = "{}", embedding: str = "null"):
    """An event line as text: json.dumps would not write NaN where a hostile file can."""
    return (
        f'{{"type": "event", "id": "{uuid.uuid4()}", "timestamp": "2026-01-02T03:04:05+00:00", '
        f'"content": {content}, "metadata": {metadata}, "embedding": {embedding}}}'
    )


def non_finite_lines(value: str) -> dict[str, str]:
    return {
        "content": raw_event(content=f'{{"n": {value}}}'),
        "nested_content": raw_event(content=f'{{"a": [{{"b": [1, {value}]}}]}}'),
        "metadata": raw_event(metadata=f'{{"score": {value}}}'),
        "embedding": raw_event(embedding=f"[0.1, {value}, 0.3]"),
        "chunk_metadata": json.dumps(chunk()).replace(
            '"metadata": {}', f'"metadata": {{"x": {value}}}'
        ),
    }


@pytest.mark.parametrize("value", NON_FINITE)
@pytest.mark.parametrize("place", list(non_finite_lines("1")))
def test_a_non_finite_number_anywhere_is_refused_with_its_line(value, place):
    line = non_finite_lines(value)[place]
    with pytest.raises(LineError) as error:
        parse_record(line, line=4, dimension=3)
    assert error.value.line == 4
    assert "finite" in error.value.message, error.value.message


@pytest.mark.parametrize(
    ("embedding", "expected"),
    [("[0.1, 1e39, 0.3]", "too large for float32"), ("[0, 0.0, -0.0]", "all zeros")],
)
def test_a_vector_the_database_would_refuse_is_refused(embedding, expected):
    with pytest.raises(LineError) as error:
        parse_record(raw_event(embedding=embedding), line=2, dimension=3)
    assert expected in error.value.message


def test_float32_extremes_that_fit_are_taken():
    record = parse_record(raw_event(embedding="[3.4028235e+38, -1e-45, 0]"), line=2, dimension=3)
    assert isinstance(record, EventRecord)


@pytest.mark.parametrize("depth", [65, 199, 200, 201, 300, 10_000])
@pytest.mark.parametrize("field", ["content", "metadata"])
def test_nesting_beyond_the_limit_is_refused_with_its_line(depth, field):
    deep = '{"a":' * (depth - 1) + '{"a": 1' + "}" * depth
    line = raw_event(**{field: deep})
    with pytest.raises(LineError) as error:
        parse_record(line, line=3, dimension=3)
    assert error.value.line == 3
    assert "nested deeper than 64 levels" in error.value.message
    assert "MAX_JSON_DEPTH" in error.value.message


def test_nesting_at_the_limit_is_taken():
    deep = '{"a":' * 63 + '{"a": 1' + "}" * 64
    record = parse_record(raw_event(content=deep, metadata=deep), line=3, dimension=3)
    assert isinstance(record, EventRecord)


def test_the_scan_reports_each_non_finite_line_by_number(tmp_path):
    path = tmp_path / "f.jsonl"
    lines = [json.dumps(HEADER), json.dumps(event())]
    lines += [raw_event(content=f'{{"n": {value}}}') for value in NON_FINITE]
    lines.append(json.dumps(event()))
    path.write_text("\n".join(lines) + "\n")
    scan = scan_file(path)
    assert scan.invalid_lines == len(NON_FINITE) and scan.events == 2
    assert [p.line for p in scan.problems] == list(range(3, 3 + len(NON_FINITE)))
    assert all("finite" in p.message for p in scan.problems)
    batches = list(record_batches(path, 3, size=100))
    assert [line for batch in batches for line, _ in batch] == [2, 3 + len(NON_FINITE)]


@pytest.mark.parametrize("digits", [4301, 100_000])
def test_an_integer_too_long_to_read_is_refused_with_its_line(digits):
    with pytest.raises(LineError) as error:
        parse_record(raw_event(content=f'{{"n": {"9" * digits}}}'), line=5, dimension=3)
    assert error.value.line == 5 and "number out of range" in error.value.message
