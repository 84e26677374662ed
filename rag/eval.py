"""`python -m rag.eval DATASET_DIR [--index DIR] [--k 1 5 10] [--json]`: retrieval quality;
with `--answers [--n N] [--seed S] [--records FILE]`, end-to-end answer quality instead
(see rag.answer_eval).

A dataset folder holds `docs/`, `questions.jsonl` and `dataset.json` (which names the hit
rule). Scoring follows the shared evaluation rule exactly: for each answerable question,
a retrieved passage is a hit when its file is a gold source ("source"), and for
"source-page" also its page, and for "answer-in-source" also its text contains one of the
answers; texts are compared after NFKC, casefold and whitespace collapsing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.cli import EXIT_OK, run
from rag.config import SearchSettings
from rag.errors import ConfigError
from rag.indexing import ingest_paths
from rag.retriever import Retriever
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
    hits_at = dict.fromkeys(ks, 0)
    reciprocal = 0.0
    latencies = []
    if answerable:
        retriever.search(answerable[0].question, k=depth)  # load the model outside the timing
    for q in answerable:
        started = time.perf_counter()
        hits = retriever.search(q.question, k=depth)
        latencies.append((time.perf_counter() - started) * 1000)
        first = next((i for i, h in enumerate(hits, 1) if is_hit(h, q, rule, docs_dir)), None)
        for k in ks:
            hits_at[k] += first is not None and first <= k
        if first is not None and first <= 10:
            reciprocal += 1 / first
    n = max(len(answerable), 1)
    return {
        "questions": len(answerable),
        "rule": rule,
        **{f"hit@{k}": round(hits_at[k] / n, 4) for k in ks},
        "mrr@10": round(reciprocal / n, 4),
        "latency_ms_p50": round(percentile(latencies, 0.50), 2),
        "latency_ms_p95": round(percentile(latencies, 0.95), 2),
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag.eval", description=__doc__.split("\n")[0])
    p.add_argument("dataset", type=Path, help="folder with docs/, questions.jsonl, dataset.json")
    p.add_argument(
        "--index",
        type=Path,
        default=None,
        help="index directory to (re)use; default: a temporary one",
    )
    p.add_argument("--k", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--limit", type=int, default=None, help="only the first N questions")
    p.add_argument(
        "--dense-weight",
        type=float,
        default=None,
        help="override the dense weight for every question (0 to 1)",
    )
    p.add_argument(
        "--answers",
        action="store_true",
        help="answer a random sample end to end with the configured model and score the answers",
    )
    p.add_argument(
        "--n", type=int, default=80, help="with --answers: questions of each kind (answerable, not)"
    )
    p.add_argument("--seed", type=int, default=0, help="with --answers: the sample's seed")
    p.add_argument(
        "--records", type=Path, default=None, help="with --answers: write one JSON line a question"
    )
    p.add_argument("--json", action="store_true")
    return p


def answer_report(args, questions: list[Question], index_dir: Path, docs: Path) -> dict:
    from rag.answer_eval import evaluate_answers, sample
    from rag.chat import AnswerSettings, Assistant
    from rag.config import GeneratorSettings
    from rag.llm import make_generator

    if args.n < 1:
        raise ConfigError(f"--n must be at least 1, got {args.n}")
    chosen = sample(questions, args.n, args.seed)
    generator_settings = GeneratorSettings.from_env()
    generator = make_generator(generator_settings)

    def progress(done: int, total: int, record: dict) -> None:
        mark = "declined" if record["declined"] else ("correct" if record["correct"] else "wrong")
        print(
            f"[{done}/{total}] {mark:8} {record['total_s']:5.1f} s  {record['id']}", file=sys.stderr
        )

    with Retriever.open(index_dir) as retriever:
        assistant = Assistant(
            retriever,
            generator,
            AnswerSettings(
                temperature=generator_settings.temperature, max_tokens=generator_settings.max_tokens
            ),
        )
        summary, records = evaluate_answers(assistant, chosen, docs, progress)
    if args.records:
        with args.records.open("w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return {"model": generator.id, "seed": args.seed, **summary}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    rule, questions = load_dataset(args.dataset)
    if args.limit:
        questions = questions[: args.limit]
    docs = args.dataset / "docs"
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        index_dir = args.index or Path(tmp) / "index"
        started = time.perf_counter()
        report = ingest_paths([docs], index_dir)
        ingest_seconds = time.perf_counter() - started
        if args.answers:
            result = answer_report(args, questions, index_dir, docs)
        else:
            settings = SearchSettings()
            if args.dense_weight is not None:
                settings = SearchSettings(
                    dense_weight=args.dense_weight, dense_weight_other_language=args.dense_weight
                )
            with Retriever.open(index_dir, settings=settings) as retriever:
                result = evaluate(retriever, questions, rule, docs, sorted(set(args.k)))
    result |= {
        "dataset": os.path.basename(os.path.normpath(args.dataset)),
        "ingest_seconds": round(ingest_seconds, 1),
        "chunks": report.chunks or None,
        "failed_files": len(report.failed),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:16} {value}")
    if report.failed:
        for path, reason in report.failed:
            print(f"failed: {path}: {reason}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    run(main)
