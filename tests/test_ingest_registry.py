"""`ingest.load`: dispatch by suffix, and every failure is a LoadError."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ingest
from ingest import (
    SUPPORTED_SUFFIXES,
    LoadError,
    ParsedDocument,
    Section,
    UnsupportedFormatError,
    load,
)

INGEST_DIR = Path(ingest.__file__).resolve().parent


def test_public_api():
    assert set(ingest.__all__) >= {
        "load",
        "SUPPORTED_SUFFIXES",
        "ParsedDocument",
        "Section",
        "LoadError",
        "UnsupportedFormatError",
    }
    assert issubclass(UnsupportedFormatError, LoadError)
    assert {".pdf", ".docx", ".md", ".markdown", ".html", ".htm", ".txt"} <= set(SUPPORTED_SUFFIXES)


@pytest.mark.parametrize(
    ("name", "content", "fmt", "text"),
    [
        ("a.txt", "plain words", "text", "plain words"),
        ("b.TXT", "upper-case suffix", "text", "upper-case suffix"),
        ("c.md", "# Head\nbody", "markdown", "# Head\nbody"),
        ("d.markdown", "# Head\nbody", "markdown", "# Head\nbody"),
        ("e.html", "<h1>Head</h1><p>body</p>", "html", "Head\nbody"),
        ("f.htm", "<p>body</p>", "html", "body"),
        ("g.rst", "Title\n=====\nbody", "text", "Title\n=====\nbody"),
    ],
)
def test_dispatch_by_suffix(tmp_path, name, content, fmt, text):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    doc = load(path)
    assert isinstance(doc, ParsedDocument)
    assert doc.format == fmt
    assert doc.path == str(path)
    assert [s.text for s in doc.sections] == [text]
    assert all(isinstance(s, Section) for s in doc.sections)


def test_pdf_and_docx_dispatch(tmp_path):
    import docx
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Hello PDF")
    pdf.output(str(tmp_path / "x.pdf"))
    document = docx.Document()
    document.add_paragraph("Hello DOCX")
    document.save(str(tmp_path / "y.docx"))

    assert load(tmp_path / "x.pdf").sections[0].text == "Hello PDF"
    assert load(str(tmp_path / "y.docx")).sections[0].text == "Hello DOCX"


@pytest.mark.parametrize("name", ["sheet.ods", "image.gif", "Makefile", "archive.tar.gz"])
def test_unsupported_types(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"whatever")
    with pytest.raises(UnsupportedFormatError) as info:
        load(path)
    assert info.value.path == str(path)
    assert info.value.reason.startswith("unsupported file type ")
    assert "supported types are .csv, .docx, .eml, .htm, .html" in info.value.reason


def test_missing_file(tmp_path):
    with pytest.raises(LoadError, match="file not found"):
        load(tmp_path / "gone.pdf")


def test_directory_with_a_supported_suffix(tmp_path):
    (tmp_path / "folder.md").mkdir()
    with pytest.raises(LoadError, match="not a regular file"):
        load(tmp_path / "folder.md")


def test_size_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(LoadError, match="too large"):
        load(path, max_bytes=1024)
    assert load(path, max_bytes=4096).sections[0].text == "x" * 2048


@pytest.mark.parametrize("content", [b"", b"   \n\t\n", b"\x00\x00"])
def test_empty_documents_are_load_errors(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        load(path)
    assert info.value.reason == "empty: no text found"


def test_html_without_visible_text_is_empty(tmp_path):
    path = tmp_path / "blank.html"
    path.write_text("<html><head><title>T</title><script>x()</script></head><body></body></html>")
    with pytest.raises(LoadError, match="empty: no text found"):
        load(path)


@pytest.mark.parametrize("error", [RuntimeError("boom"), RecursionError(), MemoryError()])
def test_unexpected_loader_exceptions_become_load_errors(tmp_path, monkeypatch, error):
    import ingest.registry

    def broken(path):
        raise error

    monkeypatch.setitem(ingest.registry.LOADERS, ".txt", broken)
    path = tmp_path / "a.txt"
    path.write_text("text")
    with pytest.raises(LoadError) as info:
        load(path)
    assert info.value.reason.startswith(f"could not be parsed ({type(error).__name__}")
    assert info.value.__cause__ is error


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.txt"
    path.write_text("text")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(LoadError, match="cannot read the file: Permission denied"):
        load(path)


def test_ingest_imports_nothing_from_rag():
    for source in INGEST_DIR.glob("*.py"):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            assert not any(n == "rag" or n.startswith("rag.") for n in names), source.name
