"""Tables in PDFs: found on ruled pages, written one labelled row a paragraph, never cut
inside a row; plain pages never reach the slow table finder."""

from __future__ import annotations

import sys
from pathlib import Path

from fpdf import FPDF

import ingest.pdf_tables
from ingest.pdf import load_pdf
from ingest.pdf_tables import clean_rows, looks_like_header, table_text
from rag.config import ChunkerSettings
from rag.text.chunking import chunk_document
from rag.text.embedding import HashEmbedder

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_format_corpus  # noqa: E402  (scripts/ is not a package)

ROWS = make_format_corpus.RATE_ROWS


def rate_table(tmp_path: Path) -> Path:
    path = tmp_path / "tarifas.pdf"
    make_format_corpus.write_rate_table(path)
    return path


def test_a_ruled_table_becomes_rows_labelled_by_its_header(tmp_path):
    doc = load_pdf(rate_table(tmp_path))
    text = doc.sections[0].text
    assert text.startswith("Tarifas de instalación 2026\nTarifas por servicio")
    madrid = next(row for row in ROWS if row[0] == "INS-P9-MAD")
    assert (
        f"Código: INS-P9-MAD; Servicio: {madrid[1]}; Zona: Madrid; "
        f"Tarifa (EUR): {madrid[3]}; Horas: {madrid[4]}"
    ) in text.split("\n\n")
    # The note under the table follows it, once.
    assert text.endswith("Las tarifas de Dublín se facturan desde Brisalux Ireland Ltd.")
    assert text.count("Brisalux Ireland") == 1


def test_passages_of_a_long_table_are_cut_between_rows_never_inside_one(tmp_path):
    doc = load_pdf(rate_table(tmp_path))
    chunks = chunk_document(doc, "sha", HashEmbedder().count_tokens, ChunkerSettings(80, 20))
    assert len(chunks) > 3
    rows = [p for c in chunks for p in c.text.split("\n\n") if p.startswith("Código: ")]
    # Every row of the table is in some passage whole, and every piece of a passage that
    # names a code is a whole row (from its code to its hours).
    assert {r.split(";")[0] for r in rows} == {f"Código: {row[0]}" for row in ROWS[1:]}
    assert all(r.split("; ")[-1].startswith("Horas: ") for r in rows)


def test_pages_of_plain_text_never_reach_the_table_finder(tmp_path, monkeypatch):
    asked = []
    real = ingest.pdf_tables.find_tables
    monkeypatch.setattr(
        ingest.pdf_tables,
        "find_tables",
        lambda p, pages, w: asked.append(pages) or real(p, pages, w),
    )
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 8, "Plain prose about lamps.\nRevenue 12 14 16\nCosts 3 4 5")
    pdf.add_page()
    pdf.line(10, 10, 100, 10)  # one rule under a header is not a table
    pdf.multi_cell(0, 8, "A page with a single rule.")
    path = tmp_path / "plain.pdf"
    pdf.output(str(path))
    doc = load_pdf(path)
    assert asked == [[]]
    assert doc.sections[0].text == "Plain prose about lamps.\nRevenue 12 14 16\nCosts 3 4 5"

    make_format_corpus.write_rate_table(tmp_path / "t.pdf")
    load_pdf(tmp_path / "t.pdf")
    assert asked[-1] == [1]


def test_when_the_table_finder_fails_or_runs_out_of_time_the_page_keeps_its_text(
    tmp_path, monkeypatch
):
    path = rate_table(tmp_path)

    def broken(*args, **kwargs):
        raise ValueError("pdfminer cannot parse this")

    monkeypatch.setattr(ingest.pdf_tables.pdfplumber, "open", broken)
    text = load_pdf(path).sections[0].text
    assert "INS-P9-MAD Montaje de Panel Pro 90 Madrid" in text  # PDFium's line, unlabelled
    monkeypatch.undo()

    monkeypatch.setattr(ingest.pdf_tables, "FILE_BUDGET_SECONDS", -1.0)
    doc = load_pdf(path)
    assert "INS-P9-MAD Montaje de Panel Pro 90 Madrid" in doc.sections[0].text
    assert any("time budget" in w and "1 more pages" in w for w in doc.warnings)


def test_financial_cells_are_joined_and_a_row_of_amounts_is_no_header():
    raw = [
        ["Products", "$", "63,355", None, "$", "63,948", ""],
        ["Services", "", "19,604", None, "", "(721", ")"],
        ["", "", "", None, "", "", ""],
    ]
    rows = clean_rows(raw)
    assert rows == [["Products", "$63,355", "$63,948"], ["Services", "19,604", "(721)"]]
    assert not looks_like_header(rows[0])
    assert table_text(rows) == "Products | $63,355 | $63,948\n\nServices | 19,604 | (721)"
    assert looks_like_header(["Region", "2021", "2022"])  # years name columns
    assert table_text([["Region", "2021"], ["North", "1.2 M"]]) == (
        "Region | 2021\n\nRegion: North; 2021: 1.2 M"
    )
