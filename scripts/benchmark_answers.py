"""Answer benchmark for the bundled model: the numbers quoted for the answer pipeline.

1. Model load: the native self-test (a child process that loads the model and generates
   3 tokens) and the load itself, timed separately.
2. Time to first token with about 1,500 tokens of context, and generation speed: the
   sample_docs passages packed into one prompt of about 1,500 tokens, answered 3 times.
3. End-to-end answers on the questions of `scripts/answer_cases.json` (English and
   Spanish) over sample_docs: latency per question and the answers, verbatim.
4. Follow-ups: for each conversation of the cases file, where the expected file ranks when
   searching the follow-up as typed, as the model rewrote it, and as the previous question
   joined with the follow-up.
5. Declining on `../shared/eval/clapnq`: the share of unanswerable questions declined
   before the model is asked, and of answerable ones wrongly declined, over all 600; then
   the same shares for whole answers (the model's own "cannot find" counted too) on the
   first `--clapnq-with-model` questions of each kind (default 50).

Nothing asserts on speed; the core count and load are printed beside the numbers.

    python scripts/benchmark_answers.py [--json] [--skip-clapnq] [--clapnq-index DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag import Retriever, ingest_paths  # noqa: E402
from rag.chat import AnswerSettings, Assistant  # noqa: E402
from rag.config import GeneratorSettings  # noqa: E402
from rag.eval import load_dataset  # noqa: E402
from rag.llm.llama import LlamaCppGenerator, resolve_model_path, self_test  # noqa: E402
from rag.prompting import answer_messages, merge_neighbours, pack_sources  # noqa: E402

CASES = json.loads((REPO / "scripts" / "answer_cases.json").read_text(encoding="utf-8"))
CLAPNQ = REPO.parent / "shared" / "eval" / "clapnq"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_load(settings: GeneratorSettings) -> tuple[LlamaCppGenerator, dict]:
    path = resolve_model_path(settings.model)
    started = time.perf_counter()
    self_test(path, settings.thread_count)
    tested = time.perf_counter()
    generator = LlamaCppGenerator(settings)
    generator.warm_up()  # the self-test result is remembered: this is the load alone
    loaded = time.perf_counter()
    return generator, {
        "self_test_s": round(tested - started, 2),
        "load_s": round(loaded - tested, 2),
        "threads": generator.threads,
        "context_size": generator.context_size,
    }


def measure_long_prompt(generator, retriever, target_tokens=1500, runs=3) -> dict:
    question = "What are the rules for passwords and multi-factor authentication?"
    hits = retriever.search(question, k=12)
    sources = pack_sources(
        question, merge_neighbours(hits), "en", target_tokens, generator.count_tokens
    )
    messages = answer_messages(question, sources, "en")
    prompt_tokens = generator.count_tokens(generator.render(messages))
    first, rates = [], []
    llm = generator.warm_up()
    for _ in range(runs):
        # llama.cpp reuses the evaluated prefix of the previous prompt; start cold so
        # every run reads the whole prompt, as a new question with new sources does.
        llm.reset()
        started = time.perf_counter()
        first_at, pieces = None, 0
        for _piece in generator.stream(messages, temperature=0.1, max_tokens=128):
            if first_at is None:
                first_at = time.perf_counter() - started
            pieces += 1
        total = time.perf_counter() - started
        first.append(first_at)
        if pieces > 1 and total > first_at:
            rates.append((pieces - 1) / (total - first_at))
    return {
        "prompt_tokens": prompt_tokens,
        "first_token_s_median": round(statistics.median(first), 2),
        "first_token_s_all": [round(x, 2) for x in first],
        "tokens_per_s_median": round(statistics.median(rates), 1) if rates else None,
    }


def answer_questions(assistant) -> list[dict]:
    rows = []
    for case in CASES["questions"]:
        started = time.perf_counter()
        answer = assistant.answer(case["question"])
        elapsed = time.perf_counter() - started
        rows.append(
            {
                "question": case["question"],
                "answer": answer.text,
                "declined": answer.declined,
                "citations": list(answer.citations),
                "top_source": answer.sources[0].label if answer.sources else None,
                "expected_source": case["source"],
                "seconds": round(elapsed, 2),
                "first_token_s": answer.timings.first_token,
            }
        )
        log(f"  {elapsed:5.1f} s  {case['question']}")
    return rows


def rank_of(retriever, query: str, expected: str, k: int = 5) -> int | None:
    for rank, hit in enumerate(retriever.search(query, k=k), start=1):
        if Path(hit.source).name == expected:
            return rank
    return None


def follow_ups(assistant) -> dict:
    rows = []
    for case in CASES["conversations"]:
        history = []
        for asked in case["history"]:
            reply = assistant.answer(asked)
            history += [
                {"role": "user", "content": asked},
                {"role": "assistant", "content": reply.text},
            ]
        started = time.perf_counter()
        standalone = assistant.standalone_question(case["follow_up"], history)
        rewrite_s = time.perf_counter() - started
        by_model = assistant.model_rewrite(case["follow_up"], history)
        joined = f"{case['history'][-1]} {case['follow_up']}"
        retriever = assistant.retriever
        rows.append(
            {
                "follow_up": case["follow_up"],
                "model_rewrite": by_model,
                "standalone": standalone,
                "standalone_s": round(rewrite_s, 2),
                "rank_as_typed": rank_of(retriever, case["follow_up"], case["source"]),
                "rank_model_rewrite": rank_of(retriever, by_model or joined, case["source"]),
                "rank_joined": rank_of(retriever, joined, case["source"]),
                "rank_standalone": rank_of(retriever, standalone, case["source"]),
            }
        )
    summary = {}
    for way in ("as_typed", "model_rewrite", "joined", "standalone"):
        ranks = [r[f"rank_{way}"] for r in rows]
        summary[way] = {
            "hit@1": sum(r == 1 for r in ranks) / len(ranks),
            "hit@3": sum(r is not None and r <= 3 for r in ranks) / len(ranks),
        }
    return {"cases": rows, "summary": summary}


def declining(
    assistant_settings: AnswerSettings, index_dir: Path, generator, with_model: int
) -> dict:
    """Evidence declines on every clapnq question; with `with_model` > 0, also whole
    answers (the model's own "cannot find" included) on that many of each kind."""
    _, questions = load_dataset(CLAPNQ)
    ingest_paths([CLAPNQ / "docs"], index_dir)
    with Retriever.open(index_dir) as retriever:
        assistant = Assistant(retriever, generator, settings=assistant_settings)
        outcome = {True: [], False: []}
        for q in questions:
            hits = retriever.search(q.question, k=assistant_settings.k)
            signals = assistant.evidence_signals(q.question, merge_neighbours(hits))
            outcome[q.answerable].append(assistant_settings.decline.before_model(signals))
        whole = {True: [], False: []}
        for answerable in (True, False):
            sample = [q for q in questions if q.answerable == answerable][:with_model]
            for q in sample:
                whole[answerable].append(assistant.answer(q.question).declined)
    result = {
        "unanswerable": len(outcome[False]),
        "unanswerable_declined": round(sum(outcome[False]) / len(outcome[False]), 3),
        "answerable": len(outcome[True]),
        "answerable_wrongly_declined": round(sum(outcome[True]) / len(outcome[True]), 3),
        "policy": assistant_settings.decline.__dict__,
    }
    if with_model:
        result["with_model"] = {
            "questions_per_kind": with_model,
            "unanswerable_declined": round(sum(whole[False]) / len(whole[False]), 3),
            "answerable_wrongly_declined": round(sum(whole[True]) / len(whole[True]), 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-clapnq", action="store_true")
    parser.add_argument("--clapnq-index", type=Path, default=None)
    parser.add_argument(
        "--clapnq-with-model",
        type=int,
        default=50,
        help="also answer this many answerable and unanswerable clapnq questions in full",
    )
    args = parser.parse_args()

    result = {"cores": os.cpu_count(), "load_before": os.getloadavg()[0]}
    settings = GeneratorSettings.from_env()
    log("loading the model")
    generator, result["model"] = measure_load(settings)
    with tempfile.TemporaryDirectory(prefix="rag-bench-answers-") as tmp:
        index = Path(tmp) / "sample"
        ingest_paths([REPO / "sample_docs"], index)
        with Retriever.open(index) as retriever:
            retriever.search("warm up", k=1)
            assistant = Assistant(retriever, generator)
            log("long prompt")
            result["long_prompt"] = measure_long_prompt(generator, retriever)
            log("sample questions")
            result["questions"] = answer_questions(assistant)
            log("follow-ups")
            result["follow_ups"] = follow_ups(assistant)
        if not args.skip_clapnq:
            log("clapnq declining")
            result["clapnq_declining"] = declining(
                AnswerSettings(),
                args.clapnq_index or Path(tmp) / "clapnq",
                generator,
                args.clapnq_with_model,
            )
    result["load_after"] = os.getloadavg()[0]

    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    model, long_prompt = result["model"], result["long_prompt"]
    print(
        f"cores {result['cores']}, load {result['load_before']:.1f} -> {result['load_after']:.1f}"
    )
    print(
        f"model: self-test {model['self_test_s']} s, load {model['load_s']} s, "
        f"{model['threads']} threads, context {model['context_size']}"
    )
    print(
        f"~{long_prompt['prompt_tokens']}-token prompt: first token "
        f"{long_prompt['first_token_s_median']} s (median of {long_prompt['first_token_s_all']}), "
        f"{long_prompt['tokens_per_s_median']} tokens/s"
    )
    seconds = [row["seconds"] for row in result["questions"]]
    print(f"sample questions: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")
    for row in result["questions"]:
        flag = " (declined)" if row["declined"] else ""
        print(f"- Q: {row['question']}{flag}\n  A: {row['answer']}  [{row['seconds']} s]")
    print("follow-ups:", json.dumps(result["follow_ups"]["summary"]))
    for row in result["follow_ups"]["cases"]:
        print(
            f"- {row['follow_up']!r}: model {row['model_rewrite']!r}, used "
            f"{row['standalone']!r} ({row['standalone_s']} s); rank as typed / model / "
            f"joined / used: {row['rank_as_typed']}/{row['rank_model_rewrite']}/"
            f"{row['rank_joined']}/{row['rank_standalone']}"
        )
    if "clapnq_declining" in result:
        print("clapnq declining:", json.dumps(result["clapnq_declining"]))


if __name__ == "__main__":
    main()
