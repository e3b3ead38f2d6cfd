"""What the chunker produces: a chunk of a source file, or the reason a file was skipped."""

from dataclasses import dataclass, field
from typing import Any

MAX_CHUNK_LINES = 200


@dataclass
class Chunk:
    name: str
    qualified_name: str
    kind: str  # function | method | class | module | window
    language: str
    file_path: str
    start_line: int  # 1-based, inclusive
    end_line: int
    source: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    file_path: str
    reason: str


def stem(path: str) -> str:
    """A file's name without its folder and extension (a module chunk's name)."""
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name
