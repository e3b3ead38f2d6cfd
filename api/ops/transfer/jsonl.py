"""Lines of the export format: parse and check one line, dump one record, read a file.

Every problem is a `LineError` carrying the 1-based line number, so an import can say exactly
which lines of a file are wrong. Reading a file is blocking: callers run it in a thread.
"""

import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from api.core.json_limits import too_deep_message
from api.ops.transfer.schemas import (
    CodeChunkRecord,
    CodeFileRecord,
    EventRecord,
    Header,
    LineProblem,
    Record,
    Scan,
)

RECORD = TypeAdapter(Record)
# The first errors of a line are enough to fix it; a 384-float vector could produce hundreds.
MAX_ERRORS_PER_LINE = 3
# Problems kept in a report: enough to fix a file, bounded however broken it is.
MAX_PROBLEMS = 50


class LineError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def dump(model: BaseModel) -> str:
    """One line of the file, newline included."""
    return model.model_dump_json() + "\n"


def parse_header(text: str | bytes, *, line: int = 1) -> Header:
    try:
        return Header.model_validate_json(text)
    except ValidationError as exc:
        raise LineError(
            line,
            f"not a MnemoLite export header ({describe(exc)}); expected "
            '{"format": "mnemolite", "version": 1, "exported_at", "text_model", '
            '"code_model", "dimension"}',
        ) from None


def parse_record(text: str | bytes, *, line: int, dimension: int) -> Record:
    """A record line, with its vectors checked against the header's dimension."""
    try:
        record: Record = RECORD.validate_json(text)
    except ValidationError as exc:
        if _too_deep_to_parse(exc):
            # pydantic's parser stops at 200 levels: only content or metadata nest that deep.
            raise LineError(line, f"content or metadata is {too_deep_message()}") from None
        raise LineError(line, describe(exc)) from None
    for field, vector in _vectors(record):
        if vector is not None and len(vector) != dimension:
            raise LineError(
                line,
                f"{field} has {len(vector)} dimensions; the header says {dimension}",
            )
    return record


def _too_deep_to_parse(exc: ValidationError) -> bool:
    return any(
        error["type"] == "json_invalid" and "recursion limit" in error["msg"]
        for error in exc.errors(include_url=False, include_input=False)
    )


def _vectors(record: Record) -> list[tuple[str, list[float] | None]]:
    if isinstance(record, EventRecord):
        return [("embedding", record.embedding)]
    if isinstance(record, CodeChunkRecord):
        return [
            ("embedding_text", record.embedding_text),
            ("embedding_code", record.embedding_code),
        ]
    return []


def describe(exc: ValidationError) -> str:
    """pydantic's errors as `field: message; ...`, without the input values (vectors are long)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:MAX_ERRORS_PER_LINE]:
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "union_tag_not_found":
            message = 'no "type" (one of event, code_file, code_chunk)'

        parts.append(f"{location}: {message}" if location else message)
    extra = exc.error_count() - MAX_ERRORS_PER_LINE
    if extra > 0:
        parts.append(f"and {extra} more")
    return "; ".join(parts)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, text) of each non-blank line; bytes, because pydantic checks the UTF-8."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                yield number, line


def scan_file(path: Path, *, max_problems: int = MAX_PROBLEMS) -> Scan:
    """Validate every line without writing anything (blocking: run it in a thread)."""
    scan = Scan(header=None)
    repositories: set[str] = set()
    lines = _lines(path)
    first = next(lines, None)
    if first is None:
        scan.problems.append(LineProblem(line=1, message="the file is empty"))
        return scan
    try:
        header = parse_header(first[1], line=first[0])
    except LineError as exc:
        scan.problems.append(LineProblem(line=exc.line, message=exc.message))
        return scan
    scan.header = header
    for number, text in lines:
        scan.lines += 1
        try:
            record = parse_record(text, line=number, dimension=header.dimension)
        except LineError as exc:
            scan.invalid_lines += 1
            if len(scan.problems) < max_problems:
                scan.problems.append(LineProblem(line=exc.line, message=exc.message))
            continue
        if isinstance(record, EventRecord):
            scan.events += 1
            scan.events_without_embedding += record.embedding is None
        elif isinstance(record, CodeFileRecord):
            scan.code_files += 1
            repositories.add(record.repository)
        else:
            scan.code_chunks += 1
            repositories.add(record.repository)
    scan.repositories = sorted(repositories)
    return scan


def record_batches(
    path: Path, dimension: int, size: int
) -> Generator[list[tuple[int, Record]], None, None]:
    """(line number, record) of the valid records, in batches of up to `size` lines (bad lines
    were reported by the scan)."""
    batch: list[tuple[int, Record]] = []
    lines = _lines(path)
    next(lines, None)  # the header
    for number, text in lines:
        with contextlib.suppress(LineError):
            batch.append((number, parse_record(text, line=number, dimension=dimension)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
