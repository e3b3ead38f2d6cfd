"""Every curl example in the README runs against the live app and gets the status it promises."""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:8001"
# Our -w comes after the example's own options, so it wins: every call's status goes to stderr.
CURL_WRAPPER = """
set -euo pipefail
curl() { command curl "$@" -w '%{stderr}STATUS %{http_code}\\n'; }
"""


def curl_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    return [block for block in blocks if re.search(r"^\s*(\w+=\$\()?curl ", block, re.M)]


def promised_statuses(block: str) -> list[int | None]:
    """For each curl call in order: the status its comment promises ("# Create (201)"), if any."""
    promised: list[int | None] = []
    comment: str | None = None
    for line in block.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comment = stripped
        elif "curl " in stripped:
            found = re.search(r"\((\d{3})\b", comment or "")
            promised.append(int(found.group(1)) if found else None)
            comment = None
    return promised


def test_the_readme_has_curl_examples_for_events_search_and_code():
    text = "\n".join(curl_blocks())
    for path in ("/v1/events", "/v1/search", "/v1/code/index", "/v1/code/search", "/health"):
        assert path in text, path


@pytest.mark.parametrize("block", curl_blocks(), ids=lambda block: block.split("\n", 1)[0][:40])
def test_readme_curl_example_runs(block: str, live_server: str):
    script = CURL_WRAPPER + block.replace(README_URL, live_server)
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert done.returncode == 0, done.stderr
    statuses = [int(s) for s in re.findall(r"^STATUS (\d{3})$", done.stderr, re.M)]
    promised = promised_statuses(block)
    assert len(statuses) == len(promised), (statuses, promised)
    for (
        got,
        wanted,
    ) in zip(statuses, promised, strict=True):
        assert got == wanted if wanted else 200 <= got < 300, (statuses, promised)
