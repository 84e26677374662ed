"""DOCX loader: documents built with python-docx in tmp_path."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
import pytest

from ingest import LoadError
from ingest.office import load_docx


def make_docx(path: Path) -> Path:
    """A handbook with a title, nested headings, and a table between two paragraphs."""
    document = docx.Document()
    document.core_properties.author = "HR Team"
    document.add_paragraph("Employee Handbook", style="Title")
    document.add_paragraph("Welcome to Acme.")
    document.add_heading("Leave", level=1)
    document.add_paragraph("Everyone gets annual leave.")
    document.add_heading("Allowance", level=2)
    document.add_paragraph("Days per year by seniority:")
    table = document.add_table(rows=3, cols=2)
    for row, (years, days) in zip(
        table.rows, [("Years", "Days"), ("0-2", "25"), ("3+", "28")], strict=True
    ):
        row.cells[0].text, row.cells[1].text = years, days
    document.add_paragraph("Unused days carry over.")
    document.add_heading("Expenses", level=1)
    document.add_paragraph("Keep every receipt.")
    document.save(str(path))
    return path


def test_headings_build_paths_and_tables_stay_in_place(tmp_path):
    doc = load_docx(make_docx(tmp_path / "handbook.docx"))
    assert doc.format == "docx"
    assert doc.title == "Employee Handbook"
    assert doc.metadata["author"] == "HR Team"
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Employee Handbook",), "Employee Handbook\nWelcome to Acme."),
        (("Employee Handbook", "Leave"), "Leave\nEveryone gets annual leave."),
        (
            ("Employee Handbook", "Leave", "Allowance"),
            # Table rows are paragraphs of their own, each naming its cells by the header.
            "Allowance\nDays per year by seniority:\n\nYears | Days\n\nYears: 0-2; Days: 25"
            "\n\nYears: 3+; Days: 28\n\nUnused days carry over.",
        ),
        (("Employee Handbook", "Expenses"), "Expenses\nKeep every receipt."),
    ]
    assert all(s.page is None for s in doc.sections)


def test_core_property_title_wins_and_stem_is_the_fallback(tmp_path):
    document = docx.Document()
    document.core_properties.title = "Travel Policy 2024"
    document.add_paragraph("Book trains, not flights.")
    document.save(str(tmp_path / "a.docx"))
    assert load_docx(tmp_path / "a.docx").title == "Travel Policy 2024"

    document = docx.Document()
    document.add_paragraph("No title anywhere.")
    document.save(str(tmp_path / "notes-2024.docx"))
    assert load_docx(tmp_path / "notes-2024.docx").title == "notes-2024"


def test_merged_cells_are_not_repeated(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 2))
    merged.text = "Quarterly totals"
    for cell, value in zip(table.rows[1].cells, ["Q1", "Q2", "Q3"], strict=True):
        cell.text = value
    document.save(str(tmp_path / "t.docx"))
    doc = load_docx(tmp_path / "t.docx")
    assert doc.sections[0].text == "Quarterly totals\n\nQ1 | Q2 | Q3"


def test_custom_style_with_an_outline_level_is_a_heading(tmp_path):
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    document = docx.Document()
    style = document.styles.add_style("Chapter", WD_STYLE_TYPE.PARAGRAPH)
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), "0")
    style.element.get_or_add_pPr().append(outline)
    document.add_paragraph("Scope", style="Chapter")
    document.add_paragraph("Applies to all staff.")
    document.save(str(tmp_path / "c.docx"))
    doc = load_docx(tmp_path / "c.docx")
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Scope",), "Scope\nApplies to all staff.")
    ]


def test_not_a_zip_is_a_clear_load_error(tmp_path):
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0 an old binary .doc renamed")
    with pytest.raises(LoadError) as info:
        load_docx(path)
    assert info.value.reason.startswith("not a valid DOCX or damaged")
    assert ".doc" in info.value.reason


def test_a_zip_that_is_not_a_word_file_is_a_clear_load_error(tmp_path):
    path = tmp_path / "archive.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not word")
    with pytest.raises(LoadError) as info:
        load_docx(path)
    assert info.value.reason.startswith("not a valid DOCX or damaged")


def test_truncated_docx_is_a_clear_load_error(tmp_path):
    full = make_docx(tmp_path / "full.docx")
    cut = tmp_path / "cut.docx"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(LoadError, match="not a valid DOCX or damaged"):
        load_docx(cut)


def test_declared_zip_bomb_is_refused(tmp_path, monkeypatch):
    import ingest._common

    monkeypatch.setattr(ingest._common, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(LoadError, match="too large: the DOCX inflates to"):
        load_docx(make_docx(tmp_path / "big.docx"))


def test_malformed_document_xml_is_a_clear_load_error(tmp_path):
    good = make_docx(tmp_path / "good.docx")
    bad = tmp_path / "bad.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "word/document.xml":
                data = data[: len(data) // 2]  # cut mid-element: not well-formed XML
            dst.writestr(item, data)
    with pytest.raises(LoadError, match="not a valid DOCX or damaged"):
        load_docx(bad)


def test_content_controls_are_read_in_place(tmp_path):
    from docx.oxml import OxmlElement

    document = docx.Document()
    document.add_paragraph("Before the control.")
    inside = document.add_paragraph("Inside a content control.")
    document.add_paragraph("After the control.")
    sdt, content = OxmlElement("w:sdt"), OxmlElement("w:sdtContent")
    sdt.append(content)
    inside._p.addprevious(sdt)
    content.append(inside._p)  # moves the paragraph into the control
    document.save(str(tmp_path / "sdt.docx"))
    doc = load_docx(tmp_path / "sdt.docx")
    assert doc.sections[0].text == (
        "Before the control.\nInside a content control.\nAfter the control."
    )
