"""The plain BM25 baseline, computed in Python over the documents an evaluation set indexes.

Okapi BM25 (k1 = 1.2, b = 0.75) over lower-cased word tokens (`\\w+`, so `snake_case` stays one
token), with the non-negative idf log(1 + (N - n + 0.5) / (n + 0.5)). No stemming, no stop words,
no identifier splitting: the simplest ranking a search service should beat.
"""

import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class BM25:
    """An inverted index over (key, text) documents; `top` returns keys, best first."""

    def __init__(self, documents: Sequence[tuple[str, str]], *, k1: float = K1, b: float = B):
        self.keys = [key for key, _ in documents]
        self.k1 = k1
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = []
        for index, (_, text) in enumerate(documents):
            counts = Counter(tokens(text))
            lengths.append(sum(counts.values()))
            for term, frequency in counts.items():
                self.postings[term].append((index, frequency))
        average = sum(lengths) / len(lengths) if lengths else 1.0
        self.norms = [k1 * (1 - b + b * length / (average or 1.0)) for length in lengths]
        total = len(documents)
        self.idf = {
            term: math.log(1 + (total - len(posting) + 0.5) / (len(posting) + 0.5))
            for term, posting in self.postings.items()
        }

    def top(self, query: str, k: int = 10) -> list[str]:
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokens(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for index, frequency in self.postings[term]:
                gain = frequency * (self.k1 + 1) / (frequency + self.norms[index])
                scores[index] += idf * gain
        # Ties go to the earlier document, so the ranking is deterministic.
        best = heapq.nlargest(k, scores.items(), key=lambda item: (item[1], -item[0]))
        return [self.keys[index] for index, _ in best]
