"""PDF loader: real PDFs made with fpdf2 (and pypdf for encryption) in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, NameObject, NumberObject

from ingest import LoadError
from ingest.pdf import load_pdf, normalise


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
    assert doc.warnings[0].startswith("page 2 has no text layer (scanned image?)")


def test_a_pdf_without_any_text_is_a_load_error(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", [None, None])
    with pytest.raises(LoadError) as info:
        load_pdf(path)
    assert info.value.reason.startswith("no extractable text: the PDF has no text layer")
    assert info.value.path == str(path)


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


def test_normalise_changes_spacing_only():
    raw = "Net  income\t\t$ 16,425\x00\r\nline two   \n\n\n\n\x0cnext\x01 page\ud800"
    assert normalise(raw) == "Net income $ 16,425\nline two\n\nnext page\ufffd"


def test_normalise_keeps_every_word():
    raw = "  Revenue   grew\n  12%  year over   year \n"
    assert normalise(raw).split() == raw.split()
