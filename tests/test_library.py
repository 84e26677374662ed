"""The document library: safe upload names, size and type limits, per-file ingest, delete."""

import threading
from pathlib import Path

import pytest

from rag import Retriever
from rag.errors import ConfigError, IndexLockedError
from rag.index.locking import WriteLock
from rag.library import (
    MAX_NAME_BYTES,
    Library,
    UploadError,
    default_docs_dir,
    default_max_upload_bytes,
    safe_filename,
    summarize,
)


@pytest.fixture
def library(tmp_path, index_dir, embedder) -> Library:
    lib = Library(index_dir, tmp_path / "managed", embedder, max_upload_bytes=1000)
    yield lib
    lib.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("handbook.md", "handbook.md"),
        ("../../etc/passwd", "passwd"),
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\Windows\\evil.TXT", "evil.txt"),
        ("/abs/path/report.docx", "report.docx"),
        ("C:\\Users\\ana\\Política de gastos.PDF", "Política de gastos.pdf"),
        (".hidden.md", "hidden.md"),
        ("..", "document"),
        ("", "document"),
        ("...md", "md"),
        ("a\x00b\nc.md", "a_b_c.md"),
        ('what?<is>"this"|*.txt', "what__is__this___.txt"),
        ("  spaced   name .md", "spaced name.md"),
        ("trailing.dots...", "trailing.dots"),
        (".md", "md"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name) == expected


def test_safe_filename_caps_length_and_keeps_the_suffix():
    name = safe_filename("é" * 400 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES


@pytest.mark.parametrize("name", ["../../etc/passwd.md", "/etc/passwd.md", "..\\..\\x.md", ".."])
def test_uploads_stay_inside_the_documents_folder(library, tmp_path, name):
    try:
        saved = library.save_upload(name, b"# Title\n\nSome text.\n")
    except UploadError:
        return  # refused is fine too; escaping is not
    assert saved.parent == library.docs_dir.resolve()
    assert not saved.name.startswith(".")
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and "managed" not in p.parts]
    assert outside == []


def test_upload_replaces_a_file_of_the_same_name_and_leaves_no_temporary_files(library):
    library.save_upload("notes.txt", b"first")
    saved = library.save_upload("notes.txt", b"second")
    assert saved.read_bytes() == b"second"
    assert sorted(p.name for p in library.docs_dir.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        ("virus.exe", 10, "'.exe' files cannot be read"),
        ("README", 10, "without a type suffix"),
        ("big.pdf", 1001, "over the 1000 bytes limit"),
        ("empty.md", 0, "empty"),
    ],
)
def test_refused_uploads_say_why(library, name, size, message):
    with pytest.raises(UploadError, match=message) as caught:
        library.check_upload(name, size)
    assert name in str(caught.value)
    assert not library.docs_dir.exists()


def test_supported_types_are_accepted(library):
    for name in ["a.pdf", "b.DOCX", "c.md", "d.html", "e.txt", "f.rst"]:
        assert library.check_upload(name, 10)


def test_ingest_files_reports_each_file(library, embedder):
    good = library.save_upload("holidays.md", b"# Holidays\n\nWe have 23 days of holiday.\n")
    bad = library.save_upload("broken.pdf", b"%PDF-1.4 this is not really a pdf")
    seen = []
    results = library.ingest_files([good, bad], progress=lambda d, t, r: seen.append((d, t)))
    assert [(r.name, r.status) for r in results] == [
        ("holidays.md", "added"),
        ("broken.pdf", "failed"),
    ]
    assert results[0].chunks == 1 and results[1].detail
    assert seen == [(1, 2), (2, 2)]
    assert summarize(results) == "1 added, 1 failed"

    again = library.ingest_files([good])
    assert again[0].status == "unchanged"
    forced = library.ingest_files([good], force=True)
    assert forced[0].status == "updated"

    docs = {Path(d.path).name: d for d in library.documents()}
    assert docs["holidays.md"].status == "ok" and docs["holidays.md"].chunk_count == 1
    assert docs["broken.pdf"].status == "failed" and docs["broken.pdf"].error


def test_changed_and_new_files_together_each_get_their_own_result(library):
    changed = library.save_upload("changed.md", b"# Changed\n\nFirst version.\n")
    library.ingest_files([changed])
    changed.write_bytes(b"# Changed\n\nSecond version.\n")
    new = library.save_upload("new.md", b"# New\n\nA new note.\n")
    results = library.ingest_files([changed, new])
    assert [(r.name, r.status) for r in results] == [("changed.md", "updated"), ("new.md", "added")]


def test_a_file_gone_from_disk_is_dropped_on_reingest(library):
    path = library.save_upload("gone.md", b"# Gone\n\nSoon gone.\n")
    library.ingest_files([path])
    path.unlink()
    assert library.ingest_files([path])[0].status == "removed"
    assert library.documents() == []
    assert library.ingest_files([path])[0].status == "failed"


def test_delete_drops_the_document_from_a_running_retriever_at_once(library, docs, embedder):
    library.ingest_folder(docs)
    uploaded = library.save_upload("lamps.md", b"# Lamps\n\nThe zeppelin lamp glows green.\n")
    library.ingest_files([uploaded])
    with Retriever.open(library.index_dir, embedder) as retriever:
        assert retriever.search("zeppelin lamp", k=1)[0].source == str(uploaded)
        result = library.delete(uploaded)
        assert (result.status, result.detail) == ("removed", "file deleted")
        assert not uploaded.exists()
        assert all(h.source != str(uploaded) for h in retriever.search("zeppelin lamp", k=5))

        faq = str((docs / "faq.txt").resolve())
        kept = library.delete(faq)
        assert kept.status == "removed" and "outside the documents folder" in kept.detail
        assert (docs / "faq.txt").exists()
        assert all(h.source != faq for h in retriever.search("warranty lamp", k=5))
    assert library.delete(faq).status == "skipped"


def test_ingest_folder_adds_then_drops_files(library, docs):
    (docs / "image.gif").write_bytes(b"GIF89a")
    results = library.ingest_folder(docs)
    assert sorted(r.status for r in results) == ["added", "added", "added", "skipped"]
    (docs / "faq.txt").unlink()
    statuses = {r.name: r.status for r in library.ingest_folder(docs)}
    assert statuses["faq.txt"] == "removed"
    assert statuses["handbook.md"] == "unchanged"


def test_stats(library, docs):
    assert not library.exists()
    assert library.stats().documents == 0 and library.documents() == []
    library.ingest_folder(docs)
    stats = library.stats()
    assert (stats.documents, stats.failed) == (3, 0)
    assert stats.chunks >= 3 and stats.index_bytes > 0 and stats.document_bytes > 0
    assert stats.embedder == "hash-64" and stats.dimension == 64
    assert stats.formats == {"markdown": 2, "text": 1}
    assert stats.last_ingested


def test_writes_wait_for_another_writer(library, docs, embedder):
    library.ingest_folder(docs)
    lock = WriteLock(library.index_dir)
    lock.acquire()
    try:
        library.lock_wait = 0.3
        with pytest.raises(IndexLockedError):
            library.ingest_folder(docs)
        library.lock_wait = 10.0
        threading.Timer(0.3, lock.release).start()
        assert {r.status for r in library.ingest_folder(docs)} == {"unchanged"}
    finally:
        lock.release()


def test_default_docs_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("RAG_DOCS_DIR", raising=False)
    assert default_docs_dir(tmp_path / "idx") == tmp_path / "documents"
    monkeypatch.setenv("RAG_DOCS_DIR", str(tmp_path / "mine"))
    assert default_docs_dir(tmp_path / "idx") == tmp_path / "mine"


def test_default_max_upload_bytes(monkeypatch):
    monkeypatch.delenv("RAG_MAX_UPLOAD_MB", raising=False)
    assert default_max_upload_bytes() == 50 * 2**20
    monkeypatch.setenv("RAG_MAX_UPLOAD_MB", "1.5")
    assert default_max_upload_bytes() == int(1.5 * 2**20)
    for bad in ["lots", "0", "-3"]:
        monkeypatch.setenv("RAG_MAX_UPLOAD_MB", bad)
        with pytest.raises(ConfigError, match="RAG_MAX_UPLOAD_MB"):
            default_max_upload_bytes()
