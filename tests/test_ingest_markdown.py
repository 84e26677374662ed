"""Markdown loader: heading paths from ATX/setext headings, text kept exactly as written."""

from __future__ import annotations

import pytest

from ingest.markdown import load_markdown


def load_md(tmp_path, text: str, name: str = "doc.md", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return load_markdown(path)


def test_atx_headings_build_paths_and_sections_keep_the_heading_line(tmp_path):
    doc = load_md(
        tmp_path,
        "Intro before any heading.\n"
        "\n"
        "# Handbook\n"
        "Welcome.\n"
        "\n"
        "## Leave\n"
        "25 days.\n"
        "### Sick leave ###\n"
        "Tell your manager.\n"
        "## Expenses\n"
        "Keep *receipts*.\n",
    )
    assert doc.format == "markdown"
    assert doc.title == "Handbook"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ((), "Intro before any heading."),
        (("Handbook",), "# Handbook\nWelcome."),
        (("Handbook", "Leave"), "## Leave\n25 days."),
        (("Handbook", "Leave", "Sick leave"), "### Sick leave ###\nTell your manager."),
        (("Handbook", "Expenses"), "## Expenses\nKeep *receipts*."),
    ]


def test_hash_lines_in_fenced_code_are_not_headings(tmp_path):
    doc = load_md(
        tmp_path,
        "# Setup\n"
        "```bash\n"
        "# install the tool\n"
        "pip install acme\n"
        "```\n"
        "~~~~\n"
        "## still code\n"
        "~~~\n"
        "~~~~\n"
        "## Run\n"
        "acme serve\n",
    )
    assert [s.heading for s in doc.sections] == [("Setup",), ("Setup", "Run")]
    assert "# install the tool" in doc.sections[0].text
    assert "## still code" in doc.sections[0].text


@pytest.mark.parametrize("line", ["#hashtag", "####### seven", "    # indented code"])
def test_lines_that_are_not_atx_headings(tmp_path, line):
    doc = load_md(tmp_path, f"# Top\n{line}\n")
    assert [s.heading for s in doc.sections] == [("Top",)]
    assert line in doc.sections[0].text


def test_skipped_levels_and_siblings(tmp_path):
    doc = load_md(tmp_path, "# A\n### A.x\ntext\n## B\nmore\n# C\nend\n")
    # "# A" has no text of its own: it lives on in the paths below it.
    assert [s.heading for s in doc.sections] == [("A", "A.x"), ("A", "B"), ("C",)]


def test_a_document_of_only_headings_keeps_them(tmp_path):
    doc = load_md(tmp_path, "# Agenda\n## Budget\n## Hiring\n")
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Agenda",), "# Agenda"),
        (("Agenda", "Budget"), "## Budget"),
        (("Agenda", "Hiring"), "## Hiring"),
    ]


def test_setext_headings(tmp_path):
    doc = load_md(
        tmp_path,
        "Guide\n=====\n\nIntro text.\n\nDetails\n-------\nThe details.\n\n"
        "A paragraph line\nand its second line\n---\n",
    )
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Guide",), "Guide\n=====\n\nIntro text."),
        (
            ("Guide", "Details"),
            # a "---" under a two-line paragraph is not taken for a heading here
            "Details\n-------\nThe details.\n\nA paragraph line\nand its second line\n---",
        ),
    ]
    assert doc.title == "Guide"


def test_front_matter_title_and_no_headings_inside_it(tmp_path):
    doc = load_md(tmp_path, "---\ntitle: 'Remote Work Policy'\ntags: x\n---\nBody text\n")
    assert doc.title == "Remote Work Policy"
    assert [s.heading for s in doc.sections] == [()]
    assert doc.sections[0].text.endswith("Body text")


def test_title_falls_back_to_the_file_stem(tmp_path):
    assert load_md(tmp_path, "just text\n", name="faq.md").title == "faq"


def test_every_line_is_kept_as_written(tmp_path):
    source = "# T\r\nline with  double  spaces\r\n\r\n## U\r\n- item\r\n    code  block\r\n"
    doc = load_md(tmp_path, source)
    kept = [line for s in doc.sections for line in s.text.split("\n") if line.strip()]
    assert kept == [line for line in source.split("\r\n") if line.strip()]


def test_legacy_encoding_is_decoded(tmp_path):
    doc = load_md(tmp_path, "# Política\nAñadir días\n", encoding="cp1252")
    assert doc.sections[0].heading == ("Política",)
    assert "Añadir días" in doc.sections[0].text
