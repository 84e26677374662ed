"""Slides, sheets, e-mail and OCR: real files made in tmp_path with the libraries that
write them (python-pptx, openpyxl, the email package, fpdf2, Pillow), read back by the
loaders. The OCR tests run the real Tesseract and are skipped where it is not installed
(the Makefile installs it)."""

from __future__ import annotations

import datetime as dt
import mailbox
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from fpdf import FPDF
from openpyxl import Workbook
from pptx import Presentation
from pptx.util import Inches

import ingest.ocr
import ingest.sheets
from ingest import LoadError, load
from ingest.mail import load_eml, load_mbox
from ingest.sheets import load_csv, load_xlsx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_format_corpus  # noqa: E402  (scripts/ is not a package)

NEEDS_TESSERACT = pytest.mark.skipif(
    ingest.ocr.available() is not None, reason=f"OCR unavailable: {ingest.ocr.available()}"
)


# -- slides ----------------------------------------------------------------------------


def make_deck(path: Path) -> Path:
    deck = Presentation()
    deck.core_properties.title = "Q3 Review"
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "Revenue by region"
    # Added bottom box first: reading order must still put the top box first.
    low = slide.shapes.add_textbox(Inches(1), Inches(5), Inches(6), Inches(1))
    low.text_frame.text = "Source: finance team"
    high = slide.shapes.add_textbox(Inches(1), Inches(1.5), Inches(6), Inches(1))
    high.text_frame.text = "North grew fastest"
    rows = [["Region", "Q3 revenue"], ["North", "1.2 M"], ["South", "0.8 M"]]
    table = slide.shapes.add_table(3, 2, Inches(1), Inches(3), Inches(6), Inches(1.5)).table
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide.notes_slide.notes_text_frame.text = "Mention the new Porto office."
    blank = deck.slides.add_slide(deck.slide_layouts[6])  # no title
    blank.shapes.add_textbox(
        Inches(1), Inches(1), Inches(4), Inches(1)
    ).text_frame.text = "Questions?"
    deck.save(str(path))
    return path


def test_slides_are_pages_with_titles_tables_and_notes_in_reading_order(tmp_path):
    doc = load(make_deck(tmp_path / "review.pptx"))
    assert doc.format == "pptx" and doc.title == "Q3 Review" and doc.page_count == 2
    first, second = doc.sections
    assert first.page == 1 and first.heading == ("Revenue by region",)
    assert first.text.split("\n\n") == [
        "Revenue by region",
        "North grew fastest",
        "Region | Q3 revenue",
        "Region: North; Q3 revenue: 1.2 M",
        "Region: South; Q3 revenue: 0.8 M",
        "Source: finance team",
        "Notes: Mention the new Porto office.",
    ]
    assert second.page == 2 and second.heading == ("Slide 2",) and second.text == "Questions?"


def test_a_damaged_deck_is_a_load_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.pptx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoadError) as info:
        load(path)
    assert info.value.path == str(path) and "not a valid PPTX" in info.value.reason


# -- sheets ----------------------------------------------------------------------------


def test_sheet_rows_carry_their_header_and_sections_name_the_rows(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "Budget 2026"
    sheet.append(["Region", "Q3 revenue", "Closed on"])
    for i in range(40):
        sheet.append([f"Area {i}", 1000 + i, dt.datetime(2026, 9, 30)])
    other = book.create_sheet("Notes")
    other.append(["Only one line here"])
    book.save(str(tmp_path / "budget.xlsx"))

    doc = load(tmp_path / "budget.xlsx")
    assert doc.format == "xlsx"
    budget = [s for s in doc.sections if s.heading[0] == "Budget 2026"]
    assert budget[0].heading == ("Budget 2026", f"rows 1-{budget[0].text.count('Region: ') + 1}")
    assert budget[0].text.startswith(
        "Region | Q3 revenue | Closed on\n\nRegion: Area 0; Q3 revenue: 1000; Closed on: 2026-09-30"
    )
    # Cut between rows: every row of the sheet is in exactly one section, whole.
    rows = [line for s in budget for line in s.text.split("\n\n") if line.startswith("Region:")]
    assert rows == [
        f"Region: Area {i}; Q3 revenue: {1000 + i}; Closed on: 2026-09-30" for i in range(40)
    ]
    last = budget[-1].heading[1]
    assert last.endswith("-41")
    assert [s.text for s in doc.sections if s.heading[0] == "Notes"] == ["Only one line here"]


def test_a_sheet_used_down_to_its_last_row_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest.sheets, "MAX_EMPTY_RUN", 50)
    book = Workbook()
    sheet = book.active
    sheet.append(["a", "b"])
    sheet.append([1, 2])
    sheet.cell(row=1_048_576, column=1, value="far away")  # what a stray format does
    book.save(str(tmp_path / "tall.xlsx"))
    doc = load_xlsx(tmp_path / "tall.xlsx")
    assert [s.text for s in doc.sections] == ["a | b\n\na: 1; b: 2"]
    assert "50 empty rows in a row from row 3" in doc.warnings[0]


def test_csv_delimiter_and_encoding_are_sniffed(tmp_path):
    path = tmp_path / "gastos.csv"
    path.write_bytes("Región;Importe (€)\nNorte;1.200\nSur;800\n".encode("cp1252"))
    doc = load_csv(path)
    assert doc.sections[0].text == (
        "Región | Importe (€)\n\nRegión: Norte; Importe (€): 1.200\n\nRegión: Sur; Importe (€): 800"
    )
    assert doc.sections[0].heading == ("rows 1-3",)
    tabbed = tmp_path / "tabs.csv"
    tabbed.write_text("name\tdays\nAna\t23\n", encoding="utf-8")
    assert load(tabbed).sections[0].text == "name | days\n\nname: Ana; days: 23"


def test_a_damaged_workbook_is_a_load_error(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_text("just text", encoding="utf-8")
    with pytest.raises(LoadError) as info:
        load(path)
    assert "not a valid XLSX" in info.value.reason and ".xls file" in info.value.reason


# -- e-mail ----------------------------------------------------------------------------


def small_pdf(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def make_message(subject: str, body: str, *, html: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Ana Ruiz <ana@lumen.example>"
    message["To"] = "team@lumen.example"
    message["Date"] = "Tue, 03 Mar 2026 09:15:00 +0100"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def test_a_message_reads_its_body_and_its_attachments_keep_their_pages(tmp_path):
    message = make_message("Audit schedule", "The audit starts on 12 May.")
    pdf = small_pdf(["Cover page of the plan", "Room 4B is booked for the auditors."])
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="plan.pdf")
    message.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="logo.gif")
    (tmp_path / "audit.eml").write_bytes(bytes(message))

    doc = load(tmp_path / "audit.eml")
    assert doc.format == "eml" and doc.title == "Audit schedule"
    assert doc.metadata["from"] == "Ana Ruiz <ana@lumen.example>"
    assert doc.metadata["date"] == "2026-03-03T09:15+01:00"
    body, *attachment = doc.sections
    assert body.heading == ("Audit schedule",) and body.page is None
    assert "From: Ana Ruiz <ana@lumen.example>; To: team@lumen.example" in body.text
    assert body.text.endswith("The audit starts on 12 May.")
    assert [(s.heading, s.page) for s in attachment] == [
        (("Audit schedule", "plan.pdf"), 1),
        (("Audit schedule", "plan.pdf"), 2),
    ]
    assert "Room 4B" in attachment[1].text


def test_an_html_only_body_is_its_visible_text_and_never_markup(tmp_path):
    message = EmailMessage()
    message["Subject"] = "Newsletter"
    message.set_content(
        "<html><body><script>steal()</script><h1>News</h1><p>The cafeteria opens at 8.</p>"
        "</body></html>",
        subtype="html",
    )
    (tmp_path / "news.eml").write_bytes(bytes(message))
    text = load(tmp_path / "news.eml").sections[0].text
    assert "The cafeteria opens at 8." in text and "steal" not in text and "<" not in text


def test_a_mailbox_is_one_run_of_sections_per_message_and_bounded(tmp_path, monkeypatch):
    box = mailbox.mbox(str(tmp_path / "inbox.mbox"))
    for i in range(5):
        box.add(make_message(f"Ticket {i}", f"Printer {i} is out of toner."))
    box.flush()
    box.close()
    doc = load(tmp_path / "inbox.mbox")
    assert [s.heading for s in doc.sections] == [(f"Ticket {i}",) for i in range(5)]
    assert doc.metadata == {"messages": "5"}
    monkeypatch.setattr(ingest.mail, "MAX_MESSAGES", 3)
    bounded = load_mbox(tmp_path / "inbox.mbox")
    assert len(bounded.sections) == 3 and "first 3 messages" in bounded.warnings[0]


def test_a_broken_attachment_is_a_warning_and_the_message_still_loads(tmp_path):
    message = make_message("Contract", "See the attached contract.")
    message.add_attachment(b"%PDF-1.7 garbage", maintype="application", subtype="pdf",
                           filename="contract.pdf")  # fmt: skip
    (tmp_path / "c.eml").write_bytes(bytes(message))
    doc = load_eml(tmp_path / "c.eml")
    assert len(doc.sections) == 1
    assert doc.warnings and doc.warnings[0].startswith("Contract > contract.pdf: ")


def test_a_file_that_is_not_mail_is_a_load_error(tmp_path):
    (tmp_path / "x.mbox").write_text("hello\n", encoding="utf-8")
    with pytest.raises(LoadError) as info:
        load(tmp_path / "x.mbox")
    assert "no messages found" in info.value.reason


# -- OCR -------------------------------------------------------------------------------

SCAN_TEXT = [
    "Lumen Works travel policy",
    "Trains are booked in second class.",
    "La dieta diaria es de 45 euros.",
]


def scanned_page_image(lines: list[str]):
    """A page of text rendered to a picture at 200 dpi, as a scanner would make it."""
    return make_format_corpus.scan_image(lines)


def scanned_pdf(path: Path, pages: list[list[str] | str]) -> Path:
    """A PDF whose pages are pictures (list of lines) or real text (a string)."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for number, page in enumerate(pages):
        pdf.add_page()
        if isinstance(page, str):
            pdf.multi_cell(0, 10, page)
        else:
            picture = path.parent / f"scan{number}.png"
            scanned_page_image(page).save(picture)
            pdf.image(str(picture), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.output(str(path))
    return path


@NEEDS_TESSERACT
def test_a_scanned_pdf_page_is_read_by_ocr_and_keeps_its_number(tmp_path):
    path = scanned_pdf(tmp_path / "mixed.pdf", ["A typed first page.", SCAN_TEXT])
    doc = load(path)
    assert [s.page for s in doc.sections] == [1, 2]
    assert doc.sections[0].heading == ()
    scan = doc.sections[1]
    assert scan.heading == ("text read by OCR",)
    for line in SCAN_TEXT:
        assert line in scan.text
    assert any(w.startswith("page 2 read by OCR (eng+spa)") for w in doc.warnings)


@NEEDS_TESSERACT
def test_an_image_is_read_by_ocr(tmp_path):
    scanned_page_image(SCAN_TEXT).save(tmp_path / "scan.png")
    doc = load(tmp_path / "scan.png")
    assert doc.format == "png" and doc.sections[0].page == 1
    assert "Trains are booked in second class." in doc.sections[0].text


def test_without_tesseract_scans_are_reported_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(
        ingest.ocr, "available", lambda: "Tesseract is not installed: " + ingest.ocr.INSTALL_HINT
    )
    path = scanned_pdf(tmp_path / "mixed.pdf", ["A typed first page.", SCAN_TEXT])
    doc = load(path)
    assert [s.page for s in doc.sections] == [1]
    assert doc.warnings[0].startswith(
        "page 2 has no text layer (scanned?): Tesseract is not installed"
    )
    assert "apt-get install tesseract-ocr" in doc.warnings[0]
    scanned_page_image(SCAN_TEXT).save(tmp_path / "scan.png")
    with pytest.raises(LoadError) as info:
        load(tmp_path / "scan.png")
    assert "apt-get install tesseract-ocr" in info.value.reason


# -- the formats set, end to end ---------------------------------------------------------


@NEEDS_TESSERACT
def test_the_formats_set_ingests_whole_and_cites_slides_rows_and_scans(tmp_path, embedder):
    from rag import Retriever, ingest_paths

    make_format_corpus.build(tmp_path / "set")
    report = ingest_paths([tmp_path / "set" / "docs"], tmp_path / "index", embedder)
    assert report.failed == [] and len(report.added) == 10
    with Retriever.open(tmp_path / "index", embedder=embedder) as retriever:
        hit = retriever.search("Forklifts must not exceed 8 km/h", k=1, dense_weight=0)[0]
        assert Path(hit.source).name == "safety_notice_scan.pdf" and hit.page == 1
        assert hit.heading == "text read by OCR"
        hit = retriever.search("Firmware Open roles Valencia", k=1, dense_weight=0)[0]
        assert Path(hit.source).name == "q3_all_hands.pptx" and hit.page == 3
        hit = retriever.search("Rafael Ortega Andalucía", k=1, dense_weight=0)[0]
        assert hit.heading == "Ventas T3 > rows 1-6" and "Responsable: Rafael Ortega" in hit.text
        hit = retriever.search("Riba-roja 45 days purchase order", k=1, dense_weight=0)[0]
        assert hit.heading.endswith("> hanzhou_supply_agreement.pdf") and hit.page == 2


@pytest.mark.parametrize("name", ["locked.xlsx", "locked.pptx", "locked.docx"])
def test_a_password_protected_office_file_says_so(tmp_path, name):
    path = tmp_path / name
    # What Office writes for a file with a password: an OLE compound file, not a zip.
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504)
    with pytest.raises(LoadError) as info:
        load(path)
    assert info.value.path == str(path)
    assert info.value.reason.startswith("password-protected, or an old binary Office file")
