"""Real-world PDFs (broken, encrypted, image-only, odd encodings) never crash ingestion.

Reads the shared evaluation corpus next to the repository (../shared/eval); it is not part
of the repository, so these tests skip when it is absent.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from ingest import LoadError, ParsedDocument, load

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
ROBUSTNESS = EVAL / "pdf-robustness"
SEC10Q = EVAL / "sec10q" / "docs"
# The corpus keeps its source repositories' layout (pypdf_resources/, pdfminer_samples/,
# py-pdf-sample-files/); a flat docs/ folder is used instead if one appears.
ROBUSTNESS_DOCS = ROBUSTNESS / "docs" if (ROBUSTNESS / "docs").is_dir() else ROBUSTNESS
PDFS = sorted(ROBUSTNESS_DOCS.rglob("*.pdf")) if ROBUSTNESS_DOCS.is_dir() else []
MISSING = f"evaluation corpus not found at {ROBUSTNESS} (it lives outside the repository)"

# The whole folder loads in about 5 s here; a file taking this long means a hang.
PER_FILE_SECONDS = 60

# From PASSWORDS.txt: files that need a password we do not have.
NEEDS_PASSWORD = {
    "pypdf_resources/encryption/r2-user-password.pdf",
    "pypdf_resources/encryption/r3-user-password.pdf",
    "pypdf_resources/encryption/r4-user-password.pdf",
    "pypdf_resources/encryption/r4-aes-user-password.pdf",
    "pypdf_resources/encryption/r6-both-passwords.pdf",
    "pypdf_resources/crazyones-encrypted-256.pdf",
    "pypdf_resources/encrypted-file.pdf",
    "pypdf_resources/libreoffice-writer-password.pdf",
    "py-pdf-sample-files/005-libreoffice-writer-password/libreoffice-writer-password.pdf",
    "pdfminer_samples/encryption/rc4-40.pdf",
    "pdfminer_samples/encryption/rc4-128.pdf",
    "pdfminer_samples/encryption/aes-128.pdf",
    "pdfminer_samples/encryption/aes-128-m.pdf",
    "pdfminer_samples/encryption/aes-256.pdf",
    "pdfminer_samples/encryption/aes-256-m.pdf",
    "pdfminer_samples/encryption/aes-256-r6.pdf",
}
# Empty user password (or, for the AES-256 r5/r6 "user-password" files, an empty *owner*
# password): any reader opens these without asking, and so must we.
OPENS_WITHOUT_PASSWORD = {
    f"pypdf_resources/encryption/{name}.pdf"
    for name in (
        "r2-empty-password",
        "r3-empty-password",
        "r5-empty-password",
        "r6-empty-password",
        "r2-owner-password",
        "r4-owner-password",
        "r5-owner-password",
        "r6-owner-password",
        "r5-user-password",
        "r6-user-password",
    )
}


@contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging (pypdf is pure Python, so an alarm interrupts it)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def rel(path: Path) -> str:
    return path.relative_to(ROBUSTNESS_DOCS).as_posix()


@pytest.mark.skipif(not PDFS, reason=MISSING)
@pytest.mark.parametrize("path", PDFS, ids=[rel(p) for p in PDFS])
def test_every_pdf_yields_text_or_a_load_error(path):
    with time_limit(PER_FILE_SECONDS):
        try:
            doc = load(path)
        except LoadError as exc:
            assert exc.path == str(path)
            assert exc.reason.strip()
            assert rel(path) not in OPENS_WITHOUT_PASSWORD, exc.reason
            if rel(path) in NEEDS_PASSWORD:
                assert exc.reason.startswith("encrypted"), exc.reason
            return
    assert isinstance(doc, ParsedDocument)
    assert any(section.text.strip() for section in doc.sections)
    assert all(s.page is not None and 1 <= s.page <= doc.page_count for s in doc.sections)
    assert rel(path) not in NEEDS_PASSWORD


@pytest.mark.skipif(not PDFS, reason=MISSING)
def test_the_known_encrypted_files_are_all_present():
    names = {rel(p) for p in PDFS}
    assert NEEDS_PASSWORD <= names
    assert OPENS_WITHOUT_PASSWORD <= names


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "pages", "with_text"),
    [("2023 Q1 MSFT.pdf", 72, 72), ("2023 Q2 MSFT.pdf", 74, 73)],
)
def test_microsoft_10q_filings_load_despite_pypdfs_array_cap(name, pages, with_text):
    # With pypdf's default limits these files fail to open (LimitReachedError).
    path = SEC10Q / name
    if not path.is_file():
        pytest.skip(f"{path} not found (the evaluation corpus lives outside the repository)")
    doc = load(path)
    assert doc.page_count == pages
    assert len(doc.sections) == with_text
    assert not any("could not be read" in w for w in doc.warnings)
    assert "Microsoft" in doc.title
    assert any("Comprehensive income" in s.text for s in doc.sections)
