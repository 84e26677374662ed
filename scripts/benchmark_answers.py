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

Declining is measured by `scripts/calibrate_declining.py` (the curve) and
`python -m rag.eval ../shared/eval/clapnq --answers` (whole answers).

Nothing asserts on speed; the core count and load are printed beside the numbers.

    python scripts/benchmark_answers.py [--json]
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
from rag.answering.answer_eval import contains_answer  # noqa: E402
from rag.answering.assistant import Assistant  # noqa: E402
from rag.answering.prompting import answer_messages, merge_neighbours, pack_sources  # noqa: E402
from rag.config import GeneratorSettings  # noqa: E402
from rag.llm.llama import LlamaCppGenerator, resolve_model_path, self_test  # noqa: E402
from rag.search.retrieval_eval import percentile  # noqa: E402

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


def answer_questions(assistant, rounds: int = 2) -> dict:
    """The cases file's questions end to end, `rounds` times (the first round reads each
    system prompt cold): each answer, whether it holds the expected fact, its prompt size
    and timings; then p50/p95 over the later rounds."""
    rows = []
    for round_number in range(rounds):
        for case in CASES["questions"]:
            started = time.perf_counter()
            answer = assistant.answer(case["question"])
            elapsed = time.perf_counter() - started
            timings = answer.timings
            expected = case.get("answer")
            rows.append(
                {
                    "round": round_number,
                    "question": case["question"],
                    "answer": answer.text,
                    "declined": answer.declined,
                    "decline_reason": answer.decline_reason,
                    "right": (not answer.declined and contains_answer(answer.text, (expected,)))
                    if expected
                    else answer.declined,
                    "citations": list(answer.citations),
                    "unsupported_claims": len(answer.unsupported_claims),
                    "top_source": answer.sources[0].label if answer.sources else None,
                    "expected_source": case["source"],
                    "prompt_tokens": timings.prompt_tokens,
                    "first_token_s": None
                    if timings.first_token is None
                    else round(timings.rewrite + timings.retrieval + timings.first_token, 2),
                    "seconds": round(elapsed, 2),
                }
            )
            log(f"  {elapsed:5.1f} s  {case['question']}")
    later = [r for r in rows if r["round"] > 0] or rows
    first = sorted(r["first_token_s"] for r in later if r["first_token_s"] is not None)
    whole = sorted(r["seconds"] for r in later if not r["declined"])
    prompts = sorted(r["prompt_tokens"] for r in later if r["prompt_tokens"])

    def p(values, q):
        return round(percentile(values, q), 2) if values else None

    return {
        "answers": rows,
        "right": f"{sum(r['right'] for r in later)}/{len(later)}",
        "first_token_s_p50": p(first, 0.5),
        "first_token_s_p95": p(first, 0.95),
        "answer_s_p50": p(whole, 0.5),
        "answer_s_p95": p(whole, 0.95),
        "prompt_tokens": {
            "min": prompts[0] if prompts else None,
            "p25": p(prompts, 0.25),
            "p50": p(prompts, 0.5),
            "p75": p(prompts, 0.75),
            "max": prompts[-1] if prompts else None,
        },
    }


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
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
    questions = result["questions"]
    print(
        f"sample questions: {questions['right']} right; first token p50 "
        f"{questions['first_token_s_p50']} s, p95 {questions['first_token_s_p95']} s; whole "
        f"answer p50 {questions['answer_s_p50']} s, p95 {questions['answer_s_p95']} s; prompt "
        f"tokens {json.dumps(questions['prompt_tokens'])}"
    )
    for row in questions["answers"]:
        flag = " (declined)" if row["declined"] else ""
        mark = "right" if row["right"] else "WRONG"
        print(
            f"- [{row['round']}] Q: {row['question']}{flag}\n  A: {row['answer']}  "
            f"[{mark}; {row['prompt_tokens']} prompt tokens; first token "
            f"{row['first_token_s']} s; {row['seconds']} s]"
        )
    print("follow-ups:", json.dumps(result["follow_ups"]["summary"]))
    for row in result["follow_ups"]["cases"]:
        print(
            f"- {row['follow_up']!r}: model {row['model_rewrite']!r}, used "
            f"{row['standalone']!r} ({row['standalone_s']} s); rank as typed / model / "
            f"joined / used: {row['rank_as_typed']}/{row['rank_model_rewrite']}/"
            f"{row['rank_joined']}/{row['rank_standalone']}"
        )


if __name__ == "__main__":
    main()
