"""The retrieval evaluation harness (`make eval`, issue 14): quality of every search method.

- `code_sets`, `known_items`, `locomo`: the evaluation sets, built from data on this machine,
  each with a fixed tuning/test split (written in each module's docstring and in
  docs/benchmarks.md, "Retrieval quality");
- `sets`: what a set is, and how it is loaded and searched through the API (`client`);
- `harness`: loads a set, runs every method on every query, scores (`scoring`) and times them,
  beside the plain Python BM25 baseline (`bm25`);
- `__main__`: the runner (`python -m scripts.eval [--small]`): a fresh database, the API server
  with the real model, Markdown tables on stdout and JSON in `.data/eval/`.

tests/eval/test_retrieval_floor.py runs the small sets in CI.
"""
