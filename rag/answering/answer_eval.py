"""End-to-end answer quality on a labelled set: `python -m rag.eval DATASET --answers`.

A fixed random sample (`seed`) of the set's answerable questions, and as many of its
unanswerable ones, is answered by the assistant exactly as a user would get it. Scored
by the shared rule (../shared/eval/README.md): an answer is correct when its text
contains one of the gold answers, both compared after NFKC, casefold and whitespace
collapsing; digits are also compared with their group separators removed, so "1,200"
matches "1200". A declined answer is never correct.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from pathlib import Path

from rag.answering.answers import Answer
from rag.answering.assistant import Assistant
from rag.search.retrieval_eval import Question, normalize, percentile, source_name
from rag.text.lexical import told_language

_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[,.\s'’](?=\d)")


def without_separators(text: str) -> str:
    return _DIGIT_SEPARATOR.sub("", text)


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    said = normalize(text)
    for gold in answers:
        wanted = normalize(gold)
        if wanted and (wanted in said or without_separators(wanted) in without_separators(said)):
            return True
    return False


def sample(questions: list[Question], n: int, seed: int) -> list[Question]:
    """Up to `n` answerable and `n` unanswerable questions, drawn with `seed`, in a fixed
    order (the sample does not depend on the order of the file's other lines)."""
    rng = random.Random(seed)
    chosen = []
    for answerable in (True, False):
        kind = sorted((q for q in questions if q.answerable == answerable), key=lambda q: q.id)
        chosen += rng.sample(kind, min(n, len(kind)))
    return chosen


def score_answer(question: Question, answer: Answer, docs_dir: Path, elapsed: float) -> dict:
    """One question's record: what was asked, what came back, and how it scores."""
    gold_files = {source for source, _ in question.gold}
    cited = {source_name(s.source, docs_dir) for s in answer.cited_sources}
    given = {source_name(s.source, docs_dir) for s in answer.sources}
    timings = answer.timings
    before_generation = timings.rewrite + timings.retrieval
    return {
        "id": question.id,
        "question": question.question,
        "lang": question.lang,
        "answerable": question.answerable,
        "answer": answer.text,
        "declined": answer.declined,
        "decline_reason": answer.decline_reason,
        "revision": answer.revision,
        "correct": question.answerable
        and not answer.declined
        and contains_answer(answer.text, question.answers),
        "gold_cited": bool(gold_files & cited),
        "gold_given": bool(gold_files & given),
        "answer_language": None if answer.declined else told_language(answer.text),
        "claims": len(answer.claims),
        "claims_supported": sum(c.supported for c in answer.claims),
        "signals": answer.signals,
        "first_token_s": None
        if timings.first_token is None
        else round(before_generation + timings.first_token, 3),
        "total_s": round(elapsed, 3),
    }


def summarize(records: list[dict]) -> dict:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    answered = [r for r in records if not r["declined"]]
    # Only answers whose words tell a language count: a bare name is in both.
    telling = [r for r in answered if r["answer_language"] is not None]

    def share(rows: list[dict], test: Callable[[dict], bool]) -> float | None:
        return round(sum(map(test, rows)) / len(rows), 4) if rows else None

    first = [r["first_token_s"] for r in records if r["first_token_s"] is not None]
    total = [r["total_s"] for r in answered]
    return {
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "correct": share(answerable, lambda r: r["correct"]),
        "wrongly_declined": share(answerable, lambda r: r["declined"]),
        "unanswerable_declined": share(unanswerable, lambda r: r["declined"]),
        "gold_file_cited": share(answerable, lambda r: r["gold_cited"]),
        "gold_file_given": share(answerable, lambda r: r["gold_given"]),
        "answer_in_question_language": share(telling, lambda r: r["answer_language"] == r["lang"]),
        "revised": share(records, lambda r: bool(r.get("revision"))),
        "first_token_s_p50": round(percentile(first, 0.5), 2) if first else None,
        "first_token_s_p95": round(percentile(first, 0.95), 2) if first else None,
        "answer_s_p50": round(percentile(total, 0.5), 2) if total else None,
        "answer_s_p95": round(percentile(total, 0.95), 2) if total else None,
    }


def evaluate_answers(
    assistant: Assistant,
    questions: list[Question],
    docs_dir: Path,
    progress: Callable[[int, int, dict], None] | None = None,
) -> tuple[dict, list[dict]]:
    """Answer every question; the summary and one record per question."""
    records = []
    for done, question in enumerate(questions, 1):
        started = time.perf_counter()
        answer = assistant.answer(question.question)
        records.append(score_answer(question, answer, docs_dir, time.perf_counter() - started))
        if progress:
            progress(done, len(questions), records[-1])
    return summarize(records), records
