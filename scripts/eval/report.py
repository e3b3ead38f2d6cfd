"""The results of `make eval` as Markdown: one table per set and split."""

from typing import Any

from scripts.eval.catalog import METRICS
from scripts.eval.harness import BASELINE

TITLES = {
    "code": "Code search",
    "known_item": "Known-item event search (man pages)",
    "locomo": "LoCoMo event search",
}
UNITS = {"code": "functions", "known_item": "events", "locomo": "turns"}


def table(result: dict[str, Any]) -> list[str]:
    metrics = METRICS[result["set"]]
    header = f"{TITLES[result['set']]}, {result['split']} split ({', '.join(result['sources'])})"
    loaded = ", ".join(f"{value:,} {name}" for name, value in result["loaded"].items())
    lines = [
        f"### {header}",
        "",
        f"{result['queries']} queries over {result['documents']:,} {UNITS[result['set']]} "
        f"(loaded: {loaded}, in {result['load_s']:.0f} s).",
        "",
        "| method | " + " | ".join(metrics) + " | P50 ms | P95 ms |",
        "|---|" + "---|" * (len(metrics) + 2),
    ]
    for method, row in result["methods"].items():
        name = "BM25, Python baseline" if method == BASELINE else method
        cells = [f"{row[metric]:.3f}" for metric in metrics]
        cells += [str(row.get("p50_ms", "")), str(row.get("p95_ms", ""))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Date: {report['date']} · machine: {report['machine']} · model: {report['model']} · "
        f"{'small' if report['small'] else 'full'} run, {report['total_s']:.0f} s",
        "",
    ]
    for result in report["results"]:
        lines += table(result)
    return "\n".join(lines)
