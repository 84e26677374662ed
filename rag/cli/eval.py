"""`python -m rag.eval DATASET_DIR [--index DIR] [--k 1 5 10] [--json]`: retrieval quality;
with `--answers [--n N] [--seed S] [--records FILE]`, end-to-end answer quality instead
(see rag.answering.answer_eval).

The datasets and the scoring rule: rag.search.retrieval_eval.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rag.cli.common import EXIT_OK, run
from rag.config import SearchSettings
from rag.errors import ConfigError
from rag.index.writer import ingest_paths
from rag.search.retrieval_eval import Question, evaluate, load_dataset
from rag.search.retriever import Retriever


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
    from rag.answering.answer_eval import evaluate_answers, sample
    from rag.answering.assistant import AnswerSettings, Assistant
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
        by_format = result.pop("by_format", {})
        for key, value in result.items():
            print(f"{key:16} {value}")
        for fmt, shares in by_format.items():
            figures = ", ".join(f"{k} {v}" for k, v in shares.items())
            print(f"  {fmt:14} {figures}")
    if report.failed:
        for path, reason in report.failed:
            print(f"failed: {path}: {reason}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    run(main)
