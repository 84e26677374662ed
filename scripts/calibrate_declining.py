"""Calibration of the decline decision on the shared clapnq set (300 answerable + 300
unanswerable questions).

For every question, the signals the assistant has before the model writes are recorded
(best cosine, coverage of the question's words, and the default model's probability of
starting its reply with the "cannot find" sentence; see rag.answering.declining). Then:

1. a logistic regression of "unanswerable" on log(probability), coverage and cosine is
   fitted (numpy, plain gradient descent, standardised features, a little L2);
2. the curve is printed: for each threshold on the fitted score, the share of
   unanswerable questions declined and of answerable ones wrongly declined (the model's
   own greedy "cannot find" replies are not in it: they only add declines);
3. the coefficients to put in `rag.answering.declining.DeclinePolicy` are printed in raw units.

The cosine's weight is held rather than fitted. Fitted freely it comes out large
(all-MiniLM-L6-v2: near -9; multilingual-e5: near -39): clapnq's unanswerable questions
are mostly about topics its passages only brush, so a low cosine predicts them well
there, and the score becomes the old cosine gate again. On a company's own documents an
answering passage can sit at a low cosine (MiniLM 0.36: the case a user reported), and
a score that leans that hard on the cosine declines it even when the model is sure. The
weight is held where such a sure answer stays under the 0.65 threshold: -3 for MiniLM at
0.36, -8 for e5 at 0.78 (e5's cosines sit in a narrower, higher band: clapnq's answering
passages from 0.80 up). `--free-cosine` shows the other fit, `--cosine-weight` another.

Reading the probability means reading each prompt once with the model: about 4 s a
question on 2 cores with the default model (600 questions: 45 minutes). `--signals
FILE` keeps the rows (JSON lines) and `--from FILE` refits from them without the model;
`--embedder` then names which embedder the rows came from.

    python scripts/calibrate_declining.py [--index DIR] [--signals FILE | --from FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag import Retriever, ingest_paths  # noqa: E402
from rag.answering.assistant import AnswerSettings, Assistant  # noqa: E402
from rag.answering.declining import DeclinePolicy, EvidenceSignals  # noqa: E402
from rag.answering.prompting import DECLINE, answer_messages, language_of_prompt, merge_neighbours  # noqa: E402
from rag.llm import make_generator  # noqa: E402
from rag.search.retrieval_eval import load_dataset  # noqa: E402
from rag.text.embedding import (  # noqa: E402
    BUNDLED_EMBEDDER_ID,
    MULTILINGUAL_EMBEDDER_ID,
    make_embedder,
)
from rag.text.lexical import guess_language  # noqa: E402

CLAPNQ = REPO.parent / "shared" / "eval" / "clapnq"
FEATURES = ("log_probability", "coverage", "cosine")
# Per embedder: the cosine's held weight and the low cosine at which a sure answer must
# stay under the threshold (see above).
HELD_COSINE = {BUNDLED_EMBEDDER_ID: (-3.0, 0.36), MULTILINGUAL_EMBEDDER_ID: (-8.0, 0.78)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def collect(index_dir: Path) -> list[dict]:
    """The signals of every clapnq question, as the assistant computes them."""
    _, questions = load_dataset(CLAPNQ)
    ingest_paths([CLAPNQ / "docs"], index_dir)
    generator = make_generator()
    rows = []
    with Retriever.open(index_dir) as retriever:
        assistant = Assistant(retriever, generator, AnswerSettings())
        for done, q in enumerate(questions, 1):
            language = language_of_prompt(guess_language(q.question))
            merged = merge_neighbours(retriever.search(q.question, k=assistant.settings.k))
            weighted = retriever.question_weights(q.question)
            signals = assistant.evidence_signals(q.question, merged, weighted)
            sources = assistant.fit_sources(
                q.question, merged, language, assistant.settings, weighted
            )
            probability = None
            if sources and not assistant.decline_policy().before_model(signals):
                messages = answer_messages(q.question, sources, language)
                probability = generator.first_token_probability(messages, DECLINE[language])
            rows.append(
                {
                    "id": q.id,
                    "answerable": q.answerable,
                    "embedder": retriever.embedder.id,
                    **signals.with_probability(probability).as_dict(),
                }
            )
            if done % 50 == 0:
                log(f"{done}/{len(questions)}")
    return rows


def features(row: dict) -> list[float]:
    return [
        math.log(max(row["decline_probability"], 1e-6)),
        row["coverage"],
        row["best_cosine"],
    ]


def fit(rows: list[dict], cosine_weight: float | None) -> tuple[np.ndarray, float]:
    """Raw-unit weights (one per feature) and bias of the logistic regression; with
    `cosine_weight` set, the cosine's weight is held there and the rest fitted around it."""
    x = np.array([features(r) for r in rows])
    y = np.array([0.0 if r["answerable"] else 1.0 for r in rows])
    fixed = np.zeros(len(x))
    if cosine_weight is not None:
        fixed = cosine_weight * x[:, 2]
        x = x[:, :2]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    z = np.c_[(x - mean) / scale, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    for _ in range(20000):
        p = 1 / (1 + np.exp(-(z @ w + fixed)))
        w -= 0.1 * (z.T @ (p - y) / len(y) + 0.01 * np.r_[w[:-1], 0.0])
    weights = w[:-1] / scale
    bias = w[-1] - float((w[:-1] * mean / scale).sum())
    if cosine_weight is not None:
        weights = np.r_[weights, cosine_weight]
    return weights, bias


def curve(rows: list[dict], weights: np.ndarray, bias: float) -> list[dict]:
    """Declined shares for thresholds on the fitted probability; questions declined before
    the model (no probability) count as declined at every threshold."""
    scored = []
    for r in rows:
        doubt = 1.0
        if r["decline_probability"] is not None:
            doubt = 1 / (1 + math.exp(-(bias + float(np.dot(weights, features(r))))))
        scored.append((r["answerable"], doubt))
    points = []
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.01):
        declined = {True: 0, False: 0}
        count = {True: 0, False: 0}
        for answerable, doubt in scored:
            count[answerable] += 1
            declined[answerable] += doubt >= threshold
        points.append(
            {
                "max_doubt": threshold,
                "unanswerable_declined": round(declined[False] / max(count[False], 1), 3),
                "answerable_wrongly_declined": round(declined[True] / max(count[True], 1), 3),
            }
        )
    return points


def records_curve(records: list[dict], shift: float | None = None) -> list[dict]:
    """From `rag.eval --answers --records` lines: the declined shares the default policy
    would give at each threshold (with `shift` as the Spanish log-probability shift, if
    set). A question declined before the model, or by the model's own reply or a failed
    second look, stays declined at every threshold; the others are declined when their
    doubt reaches it."""
    policy = DeclinePolicy()
    if shift is not None:
        policy = replace(policy, log_probability_shift={"es": shift})
    scored = []
    for r in records:
        signals = r.get("signals") or {}
        probability = signals.get("decline_probability")
        if probability is None:
            doubt = math.inf if r["declined"] else 0.0
        else:
            doubt = policy.doubt(
                EvidenceSignals(
                    best_cosine=signals.get("best_cosine"),
                    coverage=signals["coverage"],
                    known_language=signals.get("known_language", True),
                    decline_probability=probability,
                    language=signals.get("language", "en"),
                )
            )
            if r["declined"] and r.get("decline_reason") in ("model", "unconfirmed"):
                doubt = math.inf
        scored.append((r["answerable"], doubt))
    points = []
    for threshold in (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 1.01):
        shares = {}
        for answerable in (True, False):
            doubts = [d for a, d in scored if a == answerable]
            shares[answerable] = round(sum(d >= threshold for d in doubts) / max(len(doubts), 1), 3)
        points.append(
            {
                "max_doubt": threshold,
                "unanswerable_declined": shares[False],
                "answerable_wrongly_declined": shares[True],
            }
        )
    return points


def print_records_report(paths: list[Path], as_json: bool) -> None:
    """Per prompt language, the curve of the default policy on rag.eval records, and for
    Spanish the curve at the default threshold as the Spanish shift varies."""
    records = [json.loads(line) for p in paths for line in p.read_text().splitlines() if line]
    by_language: dict[str, list[dict]] = {}
    for r in records:
        language = (r.get("signals") or {}).get("language") or r.get("lang") or "en"
        by_language.setdefault(language, []).append(r)
    report: dict = {}
    for language, rows in sorted(by_language.items()):
        report[language] = {
            "answerable": sum(r["answerable"] for r in rows),
            "unanswerable": sum(not r["answerable"] for r in rows),
            "curve": records_curve(rows),
        }
        if language == "es":
            threshold = DeclinePolicy().max_doubt
            report[language]["shift_at_default_threshold"] = [
                {
                    "shift": shift,
                    **next(p for p in records_curve(rows, shift) if p["max_doubt"] == threshold),
                }
                for shift in (-4.5, -4.0, -3.5, -2.97, -2.5, -2.0, -1.5, -1.0, 0.0)
            ]
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for language, part in report.items():
        print(f"{language}: {part['answerable']} answerable, {part['unanswerable']} unanswerable")
        print("max_doubt  unanswerable_declined  answerable_wrongly_declined")
        for p in part["curve"]:
            print(
                f"{p['max_doubt']:9.2f}  {p['unanswerable_declined']:21.3f}  "
                f"{p['answerable_wrongly_declined']:27.3f}"
            )
        for p in part.get("shift_at_default_threshold", []):
            print(
                f"  es shift {p['shift']:6.2f}: unanswerable declined "
                f"{p['unanswerable_declined']:.3f}, answerable wrongly declined "
                f"{p['answerable_wrongly_declined']:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--signals", type=Path, default=None, help="write the rows here")
    parser.add_argument("--from", dest="source", type=Path, default=None, help="read rows")
    parser.add_argument(
        "--cosine-weight",
        type=float,
        default=None,
        help="hold the cosine's weight here (default: -3 for MiniLM, -8 for e5; see above)",
    )
    parser.add_argument(
        "--embedder",
        default=None,
        help="with --from rows that do not say: the embedder they came from (default e5)",
    )
    parser.add_argument("--free-cosine", action="store_true", help="fit the cosine's weight too")
    parser.add_argument(
        "--records",
        type=Path,
        nargs="+",
        default=None,
        help="instead: rag.eval --answers records; print the default policy's curve per "
        "language and the Spanish shift's effect",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.records:
        print_records_report(args.records, args.json)
        return
    if args.source:
        rows = [json.loads(line) for line in args.source.read_text().splitlines() if line]
    else:
        with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
            rows = collect(args.index or Path(tmp) / "clapnq")
    if args.signals:
        args.signals.write_text("".join(json.dumps(r) + "\n" for r in rows))
    asked = [r for r in rows if r["decline_probability"] is not None]
    embedder_id = rows[0].get("embedder") if rows else None
    embedder_id = embedder_id or make_embedder(args.embedder).id
    held, low_cosine = HELD_COSINE.get(embedder_id, HELD_COSINE[MULTILINGUAL_EMBEDDER_ID])
    if args.cosine_weight is not None:
        held = args.cosine_weight
    cosine_weight = None if args.free_cosine else held
    weights, bias = fit(asked, cosine_weight)
    # The case a user reported: a passage that answers at a low cosine, with the model
    # sure (probability 0.002) and most of the question's words in the sentence.
    example = bias + float(np.dot(weights, [math.log(0.002), 0.6, low_cosine]))
    result = {
        "questions": len(rows),
        "embedder": embedder_id,
        "declined_before_the_model": len(rows) - len(asked),
        "doubt_bias": round(bias, 3),
        **{f"doubt_{name}": round(float(w), 3) for name, w in zip(FEATURES, weights, strict=True)},
        f"doubt_of_a_sure_answer_at_cosine_{low_cosine}": round(1 / (1 + math.exp(-example)), 3),
        "curve": curve(rows, weights, bias),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "curve":
            print(f"{key:28} {value}")
    print("max_doubt  unanswerable_declined  answerable_wrongly_declined")
    for p in result["curve"]:
        print(
            f"{p['max_doubt']:9.2f}  {p['unanswerable_declined']:21.3f}  "
            f"{p['answerable_wrongly_declined']:27.3f}"
        )


if __name__ == "__main__":
    main()
