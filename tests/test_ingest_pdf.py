"""PDF loader: real PDFs made with fpdf2 (and pypdf for encryption) in tmp_path.

Every test runs twice: with both readers (PDFium first, pypdf for what it cannot read) and
with pypdf alone, the fallback. Tests that break pypdf on purpose run on pypdf alone.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, NameObject, NumberObject

import ingest.pdf
from ingest import LoadError
from ingest.pdf import load_pdf, normalise

PYPDF_ONLY = pytest.mark.parametrize("reader", ["pypdf"], indirect=True)
BOTH_READERS = pytest.mark.parametrize("reader", ["pdfium"], indirect=True)


@pytest.fixture(autouse=True, params=["pdfium", "pypdf"])
def reader(request, monkeypatch):
    """Which readers the loader has: both (the product), or pypdf alone (the fallback)."""
    if request.param == "pypdf":
        monkeypatch.setattr(ingest.pdf, "pdfium", None)
    return request.param


def make_pdf(
    path: Path,
    pages: list[str | None],
    *,
    title: str | None = None,
    bookmarks: dict[int, tuple[str, int]] | None = None,
) -> Path:
    """Write a real PDF: one page per entry (None = a page with no text at all).

    `bookmarks` maps a 1-based page number to (title, level) for the PDF outline.
    """
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for number, text in enumerate(pages, start=1):
        pdf.add_page()
        if bookmarks and number in bookmarks:
            name, level = bookmarks[number]
            pdf.start_section(name, level=level)
        if text:
            pdf.multi_cell(0, 10, text)
    if title:
        pdf.set_title(title)
    pdf.output(str(path))
    return path


def encrypt(src: Path, dst: Path, user_password: str, owner_password: str) -> Path:
    writer = PdfWriter(clone_from=str(src))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-256")
    writer.write(str(dst))
    return dst


def test_pages_keep_their_text_and_1_based_numbers(tmp_path):
    path = make_pdf(
        tmp_path / "report.pdf",
        ["Alpha page one", "Bravo page two", "Charlie page three"],
        title="Quarterly Report",
    )
    doc = load_pdf(path)
    assert doc.format == "pdf"
    assert doc.title == "Quarterly Report"
    assert doc.page_count == 3
    assert [s.page for s in doc.sections] == [1, 2, 3]
    assert [s.text for s in doc.sections] == [
        "Alpha page one",
        "Bravo page two",
        "Charlie page three",
    ]
    assert doc.warnings == ()


def test_title_falls_back_to_the_file_stem(tmp_path):
    doc = load_pdf(make_pdf(tmp_path / "travel-policy.pdf", ["Some text"]))
    assert doc.title == "travel-policy"


@pytest.mark.parametrize("title", ["Untitled", "Microsoft Word - draft.doc", "   ", "0001-22-07"])
def test_placeholder_metadata_titles_are_ignored(tmp_path, title):
    doc = load_pdf(make_pdf(tmp_path / "handbook.pdf", ["Some text"], title=title))
    assert doc.title == "handbook"


def test_bookmarks_become_heading_paths(tmp_path):
    path = make_pdf(
        tmp_path / "outlined.pdf",
        ["Intro text", "Detail text", "More detail", "Appendix text"],
        bookmarks={1: ("Introduction", 0), 2: ("Details", 1), 4: ("Appendix", 0)},
    )
    doc = load_pdf(path)
    assert [s.heading for s in doc.sections] == [
        ("Introduction",),
        ("Introduction", "Details"),
        ("Introduction", "Details"),  # no bookmark starts here: the last one holds
        ("Appendix",),
    ]


@PYPDF_ONLY
def test_a_broken_outline_costs_only_the_headings(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "o.pdf", ["One", "Two"], bookmarks={1: ("Start", 0)})

    def broken(self):
        raise RecursionError("outline cycle")

    monkeypatch.setattr(PdfReader, "outline", property(broken))
    doc = load_pdf(path)
    assert [(s.page, s.heading, s.text) for s in doc.sections] == [(1, (), "One"), (2, (), "Two")]


def test_a_page_without_text_is_a_warning_not_a_failure(tmp_path):
    doc = load_pdf(make_pdf(tmp_path / "mixed.pdf", ["First page", None, "Third page"]))
    assert [s.page for s in doc.sections] == [1, 3]
    assert doc.page_count == 3
    assert len(doc.warnings) == 1
    assert doc.warnings[0].startswith("page 2 has no text layer (scanned?): ")


def test_a_pdf_without_any_text_is_a_load_error(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(LoadError) as info:
        load_pdf(path)
    assert info.value.reason.startswith("no extractable text: the PDF has no text layer")
    assert info.value.path == str(path)


@PYPDF_ONLY
def test_a_failing_page_does_not_stop_the_document(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "flaky.pdf", ["Page one", "Page two", "Page three"])
    original = PdfReader.pages.fget

    class FlakyPages:
        def __init__(self, pages):
            self._pages = pages

        def __len__(self):
            return len(self._pages)

        def __getitem__(self, index):
            if index == 1:
                raise LimitReachedError("Limit reached while decompressing.")
            return self._pages[index]

    monkeypatch.setattr(PdfReader, "pages", property(lambda self: FlakyPages(original(self))))
    doc = load_pdf(path)
    assert [(s.page, s.text) for s in doc.sections] == [(1, "Page one"), (3, "Page three")]
    assert doc.warnings == (
        "page 2 could not be read (LimitReachedError: Limit reached while decompressing.): "
        "text skipped",
    )


@PYPDF_ONLY
@pytest.mark.parametrize("error", [KeyError("/Font"), ValueError("bad"), RecursionError()])
def test_any_exception_in_text_extraction_is_contained(tmp_path, monkeypatch, error):
    from pypdf import PageObject

    path = make_pdf(tmp_path / "odd.pdf", ["Good page", "Bad page"])
    original = PageObject.extract_text

    def extract_text(self, *args, **kwargs):
        text = original(self, *args, **kwargs)
        if "Bad" in text:
            raise error
        return text

    monkeypatch.setattr(PageObject, "extract_text", extract_text)
    doc = load_pdf(path)
    assert [s.text for s in doc.sections] == ["Good page"]
    assert doc.warnings[0].startswith(f"page 2 could not be read ({type(error).__name__}")


@PYPDF_ONLY
def test_every_page_failing_is_a_load_error(tmp_path, monkeypatch):
    from pypdf import PageObject

    path = make_pdf(tmp_path / "bad.pdf", ["One", "Two"])

    def extract_text(self, *args, **kwargs):
        raise ValueError("broken content stream")

    monkeypatch.setattr(PageObject, "extract_text", extract_text)
    with pytest.raises(LoadError, match="no page could be read"):
        load_pdf(path)


def test_password_protected_pdf_is_a_clear_load_error(tmp_path):
    plain = make_pdf(tmp_path / "plain.pdf", ["Top secret salaries"])
    locked = encrypt(plain, tmp_path / "locked.pdf", user_password="s3cret", owner_password="o")
    with pytest.raises(LoadError) as info:
        load_pdf(locked)
    assert info.value.reason.startswith("encrypted: a password is needed to read it")


def test_empty_user_password_pdf_opens(tmp_path):
    # Encrypted only to restrict permissions: anyone may open it, and so do we.
    plain = make_pdf(tmp_path / "plain.pdf", ["Permissions only", "Second page"])
    locked = encrypt(plain, tmp_path / "perms.pdf", user_password="", owner_password="owner")
    assert PdfReader(str(locked)).is_encrypted
    doc = load_pdf(locked)
    assert [(s.page, s.text) for s in doc.sections] == [(1, "Permissions only"), (2, "Second page")]


@pytest.mark.parametrize(
    "content",
    [b"", b"this is not a pdf at all", b"%PDF-1.7\n" + bytes(range(256)) * 8],
    ids=["empty", "text", "garbage"],
)
def test_not_a_pdf_is_a_clear_load_error(tmp_path, content):
    path = tmp_path / "fake.pdf"
    path.write_bytes(content)
    with pytest.raises(LoadError) as info:
        load_pdf(path)
    assert info.value.reason.startswith("not a valid PDF or damaged: ")


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_pdf_is_a_clear_load_error(tmp_path, keep):
    full = make_pdf(tmp_path / "full.pdf", [f"Page {n} body" for n in range(1, 6)])
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * keep)])
    with pytest.raises(LoadError) as info:
        load_pdf(cut)
    assert info.value.reason.startswith("not a valid PDF or damaged: ")


def test_arrays_over_pypdfs_default_cap_still_load(tmp_path):
    # Microsoft's 10-Q PDFs hold a ~110,000-element array; pypdf's default cap is 100,000.
    path = make_pdf(tmp_path / "big.pdf", ["First page", "Second page"])
    writer = PdfWriter(clone_from=str(path))
    writer.pages[1][NameObject("/Big")] = ArrayObject([NumberObject(7)] * 150_000)
    writer.write(str(path))
    with pytest.raises(LimitReachedError):  # the plain reader trips over it...
        PdfReader(str(path)).pages[1].extract_text()
    doc = load_pdf(path)  # ...the loader does not
    assert [(s.page, s.text) for s in doc.sections] == [(1, "First page"), (2, "Second page")]
    assert doc.warnings == ()


@PYPDF_ONLY
def test_the_array_cap_is_still_a_bound(tmp_path, monkeypatch):
    import ingest.pdf

    monkeypatch.setattr(ingest.pdf, "MAX_ARRAY_ELEMENTS", 120_000)
    path = make_pdf(tmp_path / "bomb.pdf", ["First page", "Second page"])
    writer = PdfWriter(clone_from=str(path))
    writer.pages[1][NameObject("/Big")] = ArrayObject([NumberObject(7)] * 150_000)
    writer.write(str(path))
    # The page tree is read whole, so an over-limit page dictionary fails the file.
    with pytest.raises(LoadError) as info:
        load_pdf(path)
    assert info.value.reason.startswith("exceeds the PDF reader's safety limits")


def test_the_raised_cap_does_not_leak_outside_the_loader(tmp_path):
    from pypdf import get_configuration

    before = get_configuration().array_maximum_element_count
    load_pdf(make_pdf(tmp_path / "a.pdf", ["Text"]))
    assert get_configuration().array_maximum_element_count == before


# -- both readers: PDFium first, pypdf for what PDFium cannot read ----------------------


@BOTH_READERS
def test_a_file_pdfium_cannot_open_is_read_by_pypdf(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "odd.pdf", ["Page one", "Page two"], title="Odd Report")

    def refuse(*args, **kwargs):
        raise ingest.pdf.pdfium.PdfiumError("Failed to load document (PDFium: Data format error).")

    monkeypatch.setattr(ingest.pdf.pdfium, "PdfDocument", refuse)
    doc = load_pdf(path)
    assert [(s.page, s.text) for s in doc.sections] == [(1, "Page one"), (2, "Page two")]
    assert doc.title == "Odd Report"
    assert doc.warnings == ()


@BOTH_READERS
def test_a_page_pdfium_cannot_read_is_read_by_pypdf(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "flaky.pdf", ["Page one", "Page two", "Page three"])
    original = ingest.pdf._pdfium_page_text

    def page_text(doc, index):
        return ValueError("broken page") if index == 1 else original(doc, index)

    monkeypatch.setattr(ingest.pdf, "_pdfium_page_text", page_text)
    doc = load_pdf(path)
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "Page one"),
        (2, "Page two"),
        (3, "Page three"),
    ]
    assert doc.warnings == ()


@BOTH_READERS
def test_a_page_neither_reader_can_read_is_a_warning(tmp_path, monkeypatch):
    from pypdf import PageObject

    path = make_pdf(tmp_path / "bad.pdf", ["Good page", "Bad page"])
    original_pdfium = ingest.pdf._pdfium_page_text
    original_pypdf = PageObject.extract_text

    def pdfium_text(doc, index):
        return RuntimeError("pdfium failed") if index == 1 else original_pdfium(doc, index)

    def pypdf_text(self, *args, **kwargs):
        text = original_pypdf(self, *args, **kwargs)
        if "Bad" in text:
            raise KeyError("/Font")
        return text

    monkeypatch.setattr(ingest.pdf, "_pdfium_page_text", pdfium_text)
    monkeypatch.setattr(PageObject, "extract_text", pypdf_text)
    doc = load_pdf(path)
    assert [s.text for s in doc.sections] == ["Good page"]
    assert doc.warnings == ("page 2 could not be read (KeyError: '/Font'): text skipped",)


@BOTH_READERS
def test_no_text_from_pdfium_lets_pypdf_look(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "quiet.pdf", ["Hidden words"])
    monkeypatch.setattr(ingest.pdf, "_pdfium_page_text", lambda doc, index: "")
    doc = load_pdf(path)
    assert [s.text for s in doc.sections] == ["Hidden words"]


@BOTH_READERS
def test_a_broken_pdfium_outline_costs_only_the_headings(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "o.pdf", ["One", "Two"], bookmarks={1: ("Start", 0)})

    def broken(self, *args, **kwargs):
        raise RecursionError("outline cycle")

    monkeypatch.setattr(ingest.pdf.pdfium.PdfDocument, "get_toc", broken)
    doc = load_pdf(path)
    assert [(s.page, s.heading, s.text) for s in doc.sections] == [(1, (), "One"), (2, (), "Two")]


@BOTH_READERS
def test_nested_bookmarks_read_the_same_with_either_reader(tmp_path, monkeypatch):
    path = make_pdf(
        tmp_path / "deep.pdf",
        ["A", "B", "C", "D", "E"],
        bookmarks={1: ("Part I", 0), 2: ("Item 1", 1), 3: ("Note 1", 2), 5: ("Part II", 0)},
    )
    both = [s.heading for s in load_pdf(path).sections]
    monkeypatch.setattr(ingest.pdf, "pdfium", None)
    assert both == [s.heading for s in load_pdf(path).sections]
    assert both[2] == ("Part I", "Item 1", "Note 1")
    assert both[4] == ("Part II",)


def test_threads_may_load_pdfs_at_once(tmp_path):
    paths = [
        make_pdf(tmp_path / f"f{n}.pdf", [f"File {n} page {p}" for p in (1, 2)]) for n in range(4)
    ]
    results: dict[int, list[str]] = {}

    def work(n: int) -> None:
        for _ in range(5):
            results[n] = [s.text for s in load_pdf(paths[n]).sections]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: [f"File {n} page 1", f"File {n} page 2"] for n in range(4)}


def test_normalise_changes_spacing_only():
    raw = "Net  income\t\t$ 16,425\x00\r\nline two   \n\n\n\n\x0cnext\x01 page\ud800"
    assert normalise(raw) == "Net income $ 16,425\nline two\n\nnext page\ufffd"


def test_normalise_keeps_every_word():
    raw = "  Revenue   grew\n  12%  year over   year \n"
    assert normalise(raw).split() == raw.split()
