"""The reading pool: files read in worker processes, taken as they finish; a slow scan
never holds the others; a worker that dies costs no file that did not kill it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fpdf import FPDF

import ingest.ocr
from rag.index.parsing import read_all, read_file
from rag.index.sources import fingerprint
from rag.index.writer import IndexWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_format_corpus  # noqa: E402  (scripts/ is not a package)

NEEDS_TESSERACT = pytest.mark.skipif(
    ingest.ocr.available() is not None, reason=f"OCR unavailable: {ingest.ocr.available()}"
)


def notes(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"note{n}.md"
        path.write_text(f"# Note {n}\n\nMeeting room {n} seats {n + 4} people.\n", "utf-8")
        paths.append(path)
    return paths


def test_the_pool_reads_every_format_exactly_as_this_process_does(tmp_path):
    make_format_corpus.build(tmp_path / "set")
    sources = [fingerprint(p) for p in sorted((tmp_path / "set" / "docs").iterdir())]
    here = {p.source.path: p for p in read_all(sources, workers=0)}
    pooled = list(read_all(sources, workers=2))
    assert sorted(p.source.path for p in pooled) == sorted(here)
    for parsed in pooled:
        assert parsed == here[parsed.source.path]
        assert parsed.document is not None or parsed.error


def test_an_unreadable_file_comes_back_as_its_reason_from_a_worker(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    sources = [fingerprint(broken), *(fingerprint(p) for p in notes(tmp_path, 2))]
    results = {Path(p.source.path).name: p for p in read_all(sources, workers=2)}
    assert results["broken.pdf"].document is None
    assert results["broken.pdf"].error == read_file(sources[0]).error
    assert "not a valid PDF" in results["broken.pdf"].error
    assert results["note0.md"].document.sections


def scanned_pdf(path: Path, pages: int) -> Path:
    """A PDF of `pages` pictures of typed text: each page is read by OCR."""
    pdf = FPDF()
    picture = path.with_suffix(".png")
    make_format_corpus.scan_image(make_format_corpus.SCAN_EN).save(picture)
    for _ in range(pages):
        pdf.add_page()
        pdf.image(str(picture), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.output(str(path))
    picture.unlink()
    return path


@NEEDS_TESSERACT
def test_a_slow_scan_does_not_hold_the_files_behind_it(tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("RAG_PARSE_WORKERS", "2")
    docs = tmp_path / "docs"
    notes(docs, 6)
    scanned_pdf(docs / "scan.pdf", pages=3)  # seconds of OCR; a note takes milliseconds
    finished = []
    with IndexWriter(tmp_path / "index", embedder) as writer:
        plan = writer.plan([docs])
        plan.add.sort(key=lambda s: not s.path.endswith("scan.pdf"))  # the scan goes first
        report = writer.apply(plan, progress=lambda d, t, path, p, c: finished.append(path))
    assert Path(finished[-1]).name == "scan.pdf"
    assert not report.failed and len(report.added) == 7
    assert any("read by OCR" in w for _, w in report.warnings)


def test_a_worker_killed_mid_run_costs_no_file(tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("RAG_PARSE_WORKERS", "2")
    docs = tmp_path / "docs"
    notes(docs, 8)
    make_format_corpus.write_rate_table(docs / "tarifas.pdf")  # a PDF: the pool starts
    killed = []

    def kill_a_worker(done, total, path, pages, chunks):
        if not killed:
            workers = multiprocessing.active_children()
            assert workers, "the files should be read by worker processes"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    with IndexWriter(tmp_path / "index", embedder) as writer:
        report = writer.apply(writer.plan([docs]), progress=kill_a_worker)
        stored = {Path(d.path).name: d.status for d in writer.store.documents()}
    assert killed
    assert not report.failed
    assert sorted(Path(p).name for p in report.added) == sorted(stored)
    assert len(report.added) == 9 and set(stored.values()) == {"ok"}


def test_a_script_without_a_main_guard_is_not_run_again_by_workers(tmp_path):
    docs = tmp_path / "docs"
    notes(docs, 3)
    make_format_corpus.write_rate_table(docs / "tarifas.pdf")
    runs = tmp_path / "runs.log"
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from rag.index.writer import ingest_paths\n"
        "from rag.text.embedding import HashEmbedder\n"
        f"open({str(runs)!r}, 'a').write('run\\n')\n"
        f"report = ingest_paths([{str(docs)!r}], {str(tmp_path / 'index')!r}, HashEmbedder())\n"
        "print(len(report.added), len(report.failed))\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "RAG_PARSE_WORKERS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["4", "0"]
    assert runs.read_text() == "run\n"  # once: the files were read in this process
