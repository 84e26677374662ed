"""Calibration of the decline decision's evidence gate on the shared clapnq set.

For every one of clapnq's 300 answerable and 300 unanswerable questions, the evidence
signals the assistant computes before asking the model (best cosine, best two-sentence
coverage of the question's word weight; see rag.declining) are recorded; then, for a
grid of thresholds, the share of unanswerable questions the gate declines and of
answerable ones it wrongly declines. No model runs: this is the curve the gate's
defaults were read from. The model's own declines come on top (see `rag.eval --answers`).

    python scripts/calibrate_declining.py [--index DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag import Retriever, ingest_paths  # noqa: E402
from rag.chat import AnswerSettings, Assistant  # noqa: E402
from rag.declining import DeclinePolicy  # noqa: E402
from rag.eval import load_dataset  # noqa: E402
from rag.llm.fake import EchoGenerator  # noqa: E402
from rag.prompting import merge_neighbours  # noqa: E402

CLAPNQ = REPO.parent / "shared" / "eval" / "clapnq"
COSINES = (0.0, 0.25, 0.30, 0.35, 0.40)
COVERAGES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6)


def signals_of(index_dir: Path) -> list[tuple[bool, object]]:
    _, questions = load_dataset(CLAPNQ)
    ingest_paths([CLAPNQ / "docs"], index_dir)
    rows = []
    with Retriever.open(index_dir) as retriever:
        # The generator is never asked: only the evidence stage runs.
        assistant = Assistant(retriever, EchoGenerator(), AnswerSettings())
        for q in questions:
            hits = retriever.search(q.question, k=assistant.settings.k)
            rows.append(
                (q.answerable, assistant.evidence_signals(q.question, merge_neighbours(hits)))
            )
    return rows


def curve(rows) -> list[dict]:
    points = []
    for cosine in COSINES:
        for cover in COVERAGES:
            policy = DeclinePolicy(min_cosine=cosine, min_coverage=cover)
            declined = {True: 0, False: 0}
            count = {True: 0, False: 0}
            for answerable, signals in rows:
                count[answerable] += 1
                declined[answerable] += policy.before_model(signals)
            points.append(
                {
                    "min_cosine": cosine,
                    "min_coverage": cover,
                    "unanswerable_declined": round(declined[False] / count[False], 3),
                    "answerable_wrongly_declined": round(declined[True] / count[True], 3),
                }
            )
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--signals", type=Path, default=None, help="write the signals as JSON lines"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
        rows = signals_of(args.index or Path(tmp) / "clapnq")
    if args.signals:
        with args.signals.open("w") as f:
            for answerable, signals in rows:
                f.write(json.dumps({"answerable": answerable, **signals.as_dict()}) + "\n")
    points = curve(rows)
    if args.json:
        print(json.dumps(points, indent=2))
        return
    print("min_cosine min_coverage unanswerable_declined answerable_wrongly_declined")
    for p in points:
        print(
            f"{p['min_cosine']:10.2f} {p['min_coverage']:12.2f} "
            f"{p['unanswerable_declined']:21.3f} {p['answerable_wrongly_declined']:27.3f}"
        )


if __name__ == "__main__":
    main()
