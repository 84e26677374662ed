"""Retrieval quality on a labelled set: the datasets `python -m rag.eval` reads, and how
a retrieved passage is scored.

A dataset folder holds `docs/`, `questions.jsonl` and `dataset.json` (which names the hit
rule). Scoring follows the shared evaluation rule exactly: for each answerable question,
a retrieved passage is a hit when its file is a gold source ("source"), and for
"source-page" also its page, and for "answer-in-source" also its text contains one of the
answers; texts are compared after NFKC, casefold and whitespace collapsing.
"""

from __future__ import annotations

import json
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError
from rag.search.retriever import Retriever
from rag.types import Hit

RULES = ("source", "source-page", "answer-in-source")


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]
    gold: tuple[tuple[str, int | None], ...]
    answerable: bool
    lang: str = "en"
    format: str | None = None  # the kind of file the answer is in, where the set says


def load_dataset(folder: Path) -> tuple[str, list[Question]]:
    meta_path, questions_path = folder / "dataset.json", folder / "questions.jsonl"
    for path in (meta_path, questions_path, folder / "docs"):
        if not path.exists():
            raise ConfigError(
                f"{path} is missing: a dataset folder holds docs/, questions.jsonl and dataset.json"
            )
    rule = json.loads(meta_path.read_text(encoding="utf-8")).get("match")
    if rule not in RULES:
        raise ConfigError(f"{meta_path}: 'match' is {rule!r}; expected one of {RULES}")
    questions = []
    with questions_path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                questions.append(
                    Question(
                        id=q["id"],
                        question=q["question"],
                        answers=tuple(q.get("answers") or ()),
                        gold=tuple((g["source"], g.get("page")) for g in q.get("gold") or ()),
                        answerable=q.get("answerable", True),
                        lang=q.get("lang") or "en",
                        format=q.get("format"),
                    )
                )
    return rule, questions


def source_name(path: str, docs_dir: Path) -> str:
    """A file's name as the dataset's gold labels give it: relative to docs/."""
    try:
        return Path(path).resolve().relative_to(docs_dir.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def is_hit(hit: Hit, question: Question, rule: str, docs_dir: Path) -> bool:
    name = source_name(hit.source, docs_dir)
    for source, page in question.gold:
        if name != source:
            continue
        if rule == "source":
            return True
        if rule == "source-page" and hit.page == page:
            return True
        if rule == "answer-in-source":
            text = normalize(hit.text)
            if any(normalize(a) in text for a in question.answers):
                return True
    return False


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def evaluate(
    retriever: Retriever, questions: list[Question], rule: str, docs_dir: Path, ks: list[int]
) -> dict:
    depth = max(max(ks), 10)
    answerable = [q for q in questions if q.answerable]
    latencies = []
    first_hit: dict[str, int | None] = {}  # the rank of each question's first hit
    if answerable:
        retriever.search(answerable[0].question, k=depth)  # load the model outside the timing
    for q in answerable:
        started = time.perf_counter()
        hits = retriever.search(q.question, k=depth)
        latencies.append((time.perf_counter() - started) * 1000)
        first_hit[q.id] = next(
            (i for i, h in enumerate(hits, 1) if is_hit(h, q, rule, docs_dir)), None
        )
    shares = _shares([first_hit[q.id] for q in answerable], ks)
    result = {
        "questions": shares.pop("questions"),
        "rule": rule,
        **shares,
        "latency_ms_p50": round(percentile(latencies, 0.50), 2),
        "latency_ms_p95": round(percentile(latencies, 0.95), 2),
    }
    formats = sorted({q.format for q in answerable if q.format})
    if formats:
        result["by_format"] = {
            fmt: _shares([first_hit[q.id] for q in answerable if q.format == fmt], ks)
            for fmt in formats
        }
    return result


def _shares(firsts: list[int | None], ks: list[int]) -> dict:
    """hit@k and MRR@10 of a group of questions, from the rank of each one's first hit."""
    n = max(len(firsts), 1)
    return {
        "questions": len(firsts),
        **{f"hit@{k}": round(sum(f is not None and f <= k for f in firsts) / n, 4) for k in ks},
        "mrr@10": round(sum(1 / f for f in firsts if f is not None and f <= 10) / n, 4),
    }
