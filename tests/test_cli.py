"""The command lines as a user runs them: `python -m rag.ingest | rag.search | rag.eval`.

Each test runs the real module in a subprocess with the hash embedder (RAG_EMBEDDER=hash)
and a temporary index, and checks exit codes, what is printed, and what is stored.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from rag.index.store import DB_NAME

SUMMARY = "added {} / updated {} / unchanged {} / removed {} / failed {}"


def cli(cwd: Path, module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `python -m module args` in `cwd`, with only the RAG_* settings given here."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    environ.update({"RAG_EMBEDDER": "hash", "PYTHONPATH": str(REPO)})
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_clean_error(result: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    """A one-line message on stderr, the right exit code, and no traceback."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, result.stderr
    for phrase in phrases:
        assert phrase in error[0], (phrase, error[0])


def stored(index_dir: Path) -> tuple[list, list]:
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        docs = conn.execute("SELECT path, sha256, status, chunk_count FROM documents ORDER BY path")
        docs = docs.fetchall()
        chunks = conn.execute("SELECT id, doc_id, text FROM chunks ORDER BY id").fetchall()
    return docs, chunks


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    return tmp_path.resolve()


def test_ingest_reports_each_kind_of_change(cwd, docs, index_dir):
    first = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir))
    assert first.returncode == 0, first.stderr
    assert SUMMARY.format(3, 0, 0, 0, 0) in first.stdout
    assert "index " + str(index_dir) + ": 3 documents" in first.stdout

    again = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir))
    assert again.returncode == 0, again.stderr
    assert SUMMARY.format(0, 0, 3, 0, 0) in again.stdout
    assert "(0 embedded)" in again.stdout

    (docs / "faq.txt").write_text("Q: Is there parking?\nA: Yes, 40 places.\n", encoding="utf-8")
    (docs / "handbook.md").unlink()
    (docs / "new.txt").write_text("The canteen opens at noon.\n", encoding="utf-8")
    changed = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir))
    assert changed.returncode == 0, changed.stderr
    assert SUMMARY.format(1, 1, 1, 1, 0) in changed.stdout
    docs_rows, _ = stored(index_dir)
    assert [Path(p).name for p, *_ in docs_rows] == ["faq.txt", "new.txt", "politica.md"]


def test_index_directory_from_the_environment(cwd, docs):
    index_dir = cwd / "env-index"
    result = cli(cwd, "rag.ingest", "docs", RAG_INDEX_DIR=str(index_dir))
    assert result.returncode == 0, result.stderr
    assert SUMMARY.format(3, 0, 0, 0, 0) in result.stdout
    assert (index_dir / "manifest.json").is_file()
    assert not (cwd / ".rag_index").exists(), "the default location was used instead"

    search = cli(cwd, "rag.search", "lamp warranty", "--json", RAG_INDEX_DIR=str(index_dir))
    assert search.returncode == 0, search.stderr
    assert Path(json.loads(search.stdout)[0]["source"]).name == "faq.txt"


def test_dry_run_prints_the_plan_and_changes_nothing(cwd, docs, index_dir):
    fresh = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), "--dry-run")
    assert fresh.returncode == 0, fresh.stderr
    assert "add      docs/faq.txt" in fresh.stdout.splitlines()
    assert "plan: add 3 / update 0 / unchanged 0 / remove 0 / skipped 0" in fresh.stdout
    assert stored(index_dir) == ([], [])

    assert cli(cwd, "rag.ingest", "docs", "--index", str(index_dir)).returncode == 0
    before = stored(index_dir)
    (docs / "faq.txt").unlink()
    (docs / "handbook.md").write_text("# Handbook\n\nNew text.\n", encoding="utf-8")
    (docs / "new.txt").write_text("A new note.\n", encoding="utf-8")
    (docs / "photo.gif").write_bytes(b"GIF89a")
    plan = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), "--dry-run")
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert {"add      docs/new.txt", "update   docs/handbook.md", "remove   docs/faq.txt"} <= set(
        lines
    )
    assert any(line.startswith("skip     docs/photo.gif: unsupported") for line in lines)
    assert lines[-1] == "plan: add 1 / update 1 / unchanged 1 / remove 1 / skipped 1"
    assert stored(index_dir) == before

    as_json = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), "--dry-run", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert [Path(p).name for p in data["add"]] == ["new.txt"]
    assert [Path(p).name for p in data["update"]] == ["handbook.md"]
    assert [Path(p).name for p in data["unchanged"]] == ["politica.md"]
    assert [Path(p).name for p in data["remove"]] == ["faq.txt"]
    assert stored(index_dir) == before


def test_json_report(cwd, docs, index_dir):
    result = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # nothing but the JSON on stdout
    assert {"added", "updated", "unchanged", "removed", "failed"} <= set(report)
    assert sorted(Path(p).name for p in report["added"]) == [
        "faq.txt",
        "handbook.md",
        "politica.md",
    ]
    assert report["updated"] == report["unchanged"] == report["removed"] == report["failed"] == []
    assert report["index"]["documents"] == 3
    assert report["index"]["chunks"] == report["chunks"] == len(stored(index_dir)[1])


def test_a_broken_pdf_fails_alone(cwd, docs, index_dir):
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    result = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("failed ")]
    assert len(failed) == 1 and "docs/broken.pdf: " in failed[0]
    assert "not a valid PDF" in failed[0]  # the reason, not just "failed"
    assert SUMMARY.format(3, 0, 0, 0, 1) in result.stdout
    docs_rows, _ = stored(index_dir)
    assert sorted((Path(p).name, status) for p, _, status, _ in docs_rows) == [
        ("broken.pdf", "failed"),
        ("faq.txt", "ok"),
        ("handbook.md", "ok"),
        ("politica.md", "ok"),
    ]
    # A failed file is tried again on the next run (it may have been fixed); still exit 1.
    again = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir))
    assert again.returncode == 1
    assert SUMMARY.format(0, 0, 3, 0, 1) in again.stdout


def test_a_missing_path_is_a_usage_error(cwd, docs, index_dir):
    result = cli(cwd, "rag.ingest", "docs", "no-such-folder", "--index", str(index_dir))
    assert_clean_error(result, 2, "no-such-folder", "no such file or directory")


def test_an_index_built_with_another_embedder_is_refused(cwd, docs, index_dir):
    built = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), RAG_EMBEDDER="hash-32")
    assert built.returncode == 0, built.stderr
    before = stored(index_dir)

    ingest = cli(cwd, "rag.ingest", "docs", "--index", str(index_dir), RAG_EMBEDDER="hash")
    assert_clean_error(ingest, 2, "'hash-32'", "'hash-64'", "RAG_EMBEDDER")
    search = cli(cwd, "rag.search", "warranty", "--index", str(index_dir), RAG_EMBEDDER="hash")
    assert_clean_error(search, 2, "'hash-32'", "RAG_EMBEDDER")
    assert stored(index_dir) == before


def test_search_prints_hits_as_json_and_as_text(cwd, docs, index_dir):
    assert cli(cwd, "rag.ingest", "docs", "--index", str(index_dir)).returncode == 0
    result = cli(cwd, "rag.search", "lamp warranty", "--index", str(index_dir), "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert isinstance(hits, list) and 0 < len(hits) <= 5
    for hit in hits:
        assert {"source", "page", "score", "text"} <= set(hit)
    assert Path(hits[0]["source"]).name == "faq.txt"
    assert "three-year warranty" in hits[0]["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    top = cli(cwd, "rag.search", "lamp warranty", "--index", str(index_dir), "--k", "1")
    assert top.returncode == 0, top.stderr
    assert top.stdout.startswith("[1] docs/faq.txt")
    assert "[2]" not in top.stdout


@pytest.mark.parametrize("how", ["--index", "RAG_INDEX_DIR"])
def test_search_without_an_index_says_how_to_build_one(cwd, how):
    missing = cwd / "nowhere"
    if how == "--index":
        result = cli(cwd, "rag.search", "warranty", "--index", str(missing))
    else:
        result = cli(cwd, "rag.search", "warranty", RAG_INDEX_DIR=str(missing))
    assert_clean_error(result, 2, str(missing), "python -m rag.ingest")
    assert not missing.exists()


# A tiny evaluation set whose scores follow from BM25 alone. With 5 passages, a passage that
# matches a query word gets at least 1/(60+2) + 1/(60+5) = 0.0315 from fusion, while one that
# only the dense list ranks gets at most 1/(60+1) = 0.0164: lexical matches always come first.
#   q1 "lamp warranty": only lamps.txt has the words                -> rank 1
#   q2 "meal allowance ... domestic trips": only travel.md            -> rank 1
#   q3 "issues a badge": badges.txt has both words, four "badge"s; the gold, security.txt,
#      has one "badge" in a longer text: BM25 rank 2, and badges.txt is also first in the
#      dense list (so no tie)                                           -> rank 2
#   q4 gold scan.pdf is a broken PDF: never indexed                    -> miss
#   q5 is unanswerable: not scored
# hit@1 = 2/4, hit@5 = hit@10 = 3/4, MRR@10 = (1 + 1 + 1/2 + 0) / 4 = 0.625.
EVAL_DOCS = {
    "lamps.txt": "Every lamp has a three-year warranty. Lamps pair over Zigbee or Matter.\n",
    "travel.md": "# Travel\n\nThe daily meal allowance for domestic trips is 45 euros.\n",
    "laptops.txt": "Laptops are replaced every four years by the IT desk.\n",
    "badges.txt": "Badge office: the badge office issues every badge, and a lost badge is "
    "reissued there.\n",
    "security.txt": "Security at the office. Doors lock at 20:00 and the alarm is armed by the "
    "last person to leave.\nVisitors sign in at reception and must be accompanied at all "
    "times. Wear your badge on site.\nReport suspicious emails to the security team; never "
    "share passwords, not even with the IT desk.\n",
}
EVAL_QUESTIONS = [
    # Answers are written unlike the text ("Three-Year", full-width digits): the
    # answer-in-source rule compares after NFKC and casefolding.
    ("q1", "How long is the lamp warranty?", ["Three-Year Warranty"], "lamps.txt", True),
    (
        "q2",
        "What is the meal allowance for domestic trips?",
        ["\uff14\uff15 euros"],
        "travel.md",
        True,
    ),
    ("q3", "Who issues a badge?", ["badge"], "security.txt", True),
    ("q4", "Where is the scanner manual?", ["scanner"], "scan.pdf", True),
    ("q5", "What is the CEO's favourite colour?", [], None, False),
]


@pytest.mark.parametrize("rule", ["source", "answer-in-source"])
def test_eval_scores_a_tiny_dataset(cwd, rule):
    dataset = cwd / "tiny"
    (dataset / "docs").mkdir(parents=True)
    for name, text in EVAL_DOCS.items():
        (dataset / "docs" / name).write_text(text, encoding="utf-8")
    (dataset / "docs" / "scan.pdf").write_bytes(b"%PDF-1.4 truncated")
    with (dataset / "questions.jsonl").open("w", encoding="utf-8") as f:
        for qid, question, answers, source, answerable in EVAL_QUESTIONS:
            gold = [{"source": source, "page": None}] if source else []
            record = {
                "id": qid,
                "question": question,
                "answers": answers,
                "gold": gold,
                "evidence": [],
                "answerable": answerable,
                "lang": "en",
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (dataset / "dataset.json").write_text(json.dumps({"name": "tiny", "match": rule}))

    result = cli(cwd, "rag.eval", str(dataset))
    assert result.returncode == 0, result.stderr
    printed = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert printed["questions"] == "4"
    assert printed["rule"] == rule
    assert (printed["hit@1"], printed["hit@5"], printed["hit@10"]) == ("0.5", "0.75", "0.75")
    assert printed["mrr@10"] == "0.625"
    assert float(printed["latency_ms_p50"]) <= float(printed["latency_ms_p95"])
    assert (printed["chunks"], printed["failed_files"]) == ("5", "1")
    assert "scan.pdf" in result.stderr  # the failed file is named
