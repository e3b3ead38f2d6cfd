"""LoCoMo (tuning half), retrieval only: each dialogue turn an event, each question searching
its own conversation.

The data is read from where it lies (default `../shared/datasets/locomo/` next to the checkout,
or `--locomo DIR`) and never copied into the repository: its licence is CC BY-NC 4.0 (Maharana
et al., "Evaluating Very Long-Term Conversational Memory of LLM Agents", ACL 2024). Only the
tuning half (`locomo-tuning.json`, 5 conversations) is on this machine; the other half is held
out.

- event: content text `"<speaker>: <text>"`, timestamp the session's date (one second apart per
  turn), `session_id` the conversation (so a question searches only its own), metadata `dia_id`
  (`D3:5`), `conversation`;
- queries: the questions of categories 1-4 (category 5 is adversarial, with no answer in the
  conversation); the answers are the `evidence` turns (`dia_id`s that exist in the conversation;
  a question with none is left out);
- scores: turn R@5/R@10 (an evidence turn in the top k) and session R@5/R@10 (a turn of an
  evidence session in the top k).

`--small`: conversation conv-30 alone (81 questions).
"""

import json
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from scripts.eval.scoring import locomo
from scripts.eval.sets import EventSet, Query

log = logging.getLogger("eval")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT.parent / "shared" / "datasets" / "locomo"
FILE = "locomo-tuning.json"
CATEGORIES = (1, 2, 3, 4)
SMALL_CONVERSATIONS = ("conv-30",)
_DIA_ID = re.compile(r"D\d+:\d+")
_SESSION = re.compile(r"session_(\d+)")


def session_time(text: str | None) -> datetime | None:
    """`1:56 pm on 8 May, 2023` as a datetime (UTC), or None when absent or malformed."""
    try:
        return datetime.strptime(text or "", "%I:%M %p on %d %B, %Y")
    except ValueError:
        return None


def turns(conversation: dict[str, Any]) -> list[tuple[dict[str, Any], datetime | None]]:
    """Every turn in session order, with its session's date."""
    found = []
    numbers = sorted(
        int(match.group(1))
        for key, value in conversation.items()
        if isinstance(value, list) and (match := _SESSION.fullmatch(key))
    )
    for number in numbers:
        started = session_time(conversation.get(f"session_{number}_date_time"))
        found += [(turn, started) for turn in conversation[f"session_{number}"]]
    return found


def conversation_set(
    sample: dict[str, Any],
) -> tuple[list[dict[str, Any]], list[Query], list[tuple[str, str]]]:
    """(events, queries, BM25 documents) of one conversation."""
    scope = f"locomo-{sample['sample_id']}"
    events: list[dict[str, Any]] = []
    documents: list[tuple[str, str]] = []
    for position, (turn, started) in enumerate(turns(sample["conversation"])):
        text = f"{turn['speaker']}: {turn['text']}"
        event: dict[str, Any] = {
            "content": {"text": text},
            "metadata": {"dia_id": turn["dia_id"], "conversation": sample["sample_id"]},
            "session_id": scope,
        }
        if started is not None:
            event["timestamp"] = (started + timedelta(seconds=position)).isoformat() + "Z"
        events.append(event)
        documents.append((turn["dia_id"], text))
    known = {key for key, _ in documents}
    queries = []
    for qa in sample["qa"]:
        if qa["category"] not in CATEGORIES:
            continue
        evidence = {e for item in qa.get("evidence", []) for e in _DIA_ID.findall(item)}
        if evidence & known:
            queries.append(Query(str(qa["question"]), scope, frozenset(evidence & known)))
    return events, queries, documents


def locomo_set(directory: Path, *, small: bool = False) -> EventSet | None:
    path = directory / FILE
    if not path.is_file():
        log.warning("LoCoMo skipped: %s not found (pass --locomo DIR)", path)
        return None
    samples = json.loads(path.read_text())
    if small:
        samples = [s for s in samples if s["sample_id"] in SMALL_CONVERSATIONS]
    events: list[dict[str, Any]] = []
    queries: list[Query] = []
    documents: dict[str, list[tuple[str, str]]] = {}
    for sample in samples:
        conversation_events, conversation_queries, texts = conversation_set(sample)
        events += conversation_events
        queries += conversation_queries
        documents[f"locomo-{sample['sample_id']}"] = texts
    return EventSet(
        kind="locomo",
        split="tuning",
        sources=[sample["sample_id"] for sample in samples],
        queries=queries,
        documents=documents,
        score=locomo,
        events=events,
        key_field="dia_id",
    )
