"""Regenerate the PDF and DOCX files of the demo corpus in sample_docs/.

The demo corpus describes Brisalux S.L., a fictional smart-lighting company with offices in
Valencia and Dublin. Every name, address, number and policy in it is invented.

The generated files are committed, so running the demo or the tests never needs this script.
It exists so that nobody has to wonder how those binaries were made, and so that they can be
rebuilt after editing their text, which lives in scripts/sample_sources/ as a small Markdown
subset:

    # Title                    document title (first line)
    ! text                     metadata line shown under the title
    ## 1. Heading              heading level 1   (### 1.1 Heading: level 2)
    - item                     bullet
    : caption                  caption of the table that follows
    | a | b |                  table row; the first row is the header, and the dash counts
    |---|------|               in the separator row set the relative column widths
    **text**                   bold, inside paragraphs and bullets only

Output is deterministic (fixed metadata dates, fixed ZIP timestamps in the DOCX), so re-running
the script with the same fpdf2, python-docx and DejaVu font versions leaves the files unchanged.

Usage:
    .venv/bin/python scripts/make_sample_docs.py [--out DIR]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Cm, Pt
from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "sample_sources"

# fpdf2's built-in core fonts are Latin-1 only and reject "€", so the PDFs embed a Unicode
# TrueType font instead.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
FONT = "DejaVu"


@dataclass
class Block:
    kind: str  # title, meta, h1, h2, para, bullets, table
    text: str = ""
    items: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    caption: str = ""


@dataclass(frozen=True)
class Spec:
    source: str
    output: str
    lang: str
    subject: str
    created: datetime
    footer: str = ""
    page_words: tuple[str, str] = ("Page", "of")


PDFS = (
    Spec(
        source="it_security_policy.md",
        output="it_security_policy.pdf",
        lang="en-GB",
        subject="Information security rules for all Brisalux staff and contractors",
        created=datetime(2026, 1, 20, 9, 30, tzinfo=UTC),
        footer="Brisalux S.L. · IT-SEC-01 Information Security Policy · v3.2",
    ),
    Spec(
        source="politica_de_gastos.md",
        output="politica_de_gastos.pdf",
        lang="es-ES",
        subject="Normas de viajes, dietas, alojamiento y liquidación de gastos",
        created=datetime(2025, 12, 15, 11, 0, tzinfo=UTC),
        footer="Brisalux S.L. · FIN-03 Política de gastos y viajes · v2.1",
        page_words=("Página", "de"),
    ),
)
DOCX = Spec(
    source="travel_and_expenses_guide.md",
    output="travel_and_expenses_guide.docx",
    lang="en-GB",
    subject="How to plan, book and claim business travel",
    created=datetime(2026, 1, 12, 10, 0, tzinfo=UTC),
)

BOLD = re.compile(r"\*\*(.+?)\*\*")


def parse(text: str) -> list[Block]:
    blocks: list[Block] = []
    caption = ""

    def current(kind: str) -> Block | None:
        return blocks[-1] if blocks and blocks[-1].kind == kind else None

    # A blank line closes the open paragraph or list; "sep" marks that boundary.
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            blocks.append(Block("sep"))
        elif line.startswith("### "):
            blocks.append(Block("h2", line[4:]))
        elif line.startswith("## "):
            blocks.append(Block("h1", line[3:]))
        elif line.startswith("# "):
            blocks.append(Block("title", line[2:]))
        elif line.startswith("! "):
            blocks.append(Block("meta", line[2:]))
        elif line.startswith(": "):
            caption = line[2:]
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            table = current("table")
            if table is None:
                table = Block("table", caption=caption)
                caption = ""
                blocks.append(table)
            if all(c and set(c) <= {"-", ":"} for c in cells):
                table.widths = [len(c) for c in cells]
            else:
                table.rows.append(cells)
        elif line.startswith("- "):
            bullets = current("bullets")
            if bullets is None:
                bullets = Block("bullets")
                blocks.append(bullets)
            bullets.items.append(line[2:])
        elif (bullets := current("bullets")) is not None:
            bullets.items[-1] += " " + line
        elif (para := current("para")) is not None:
            para.text += " " + line
        else:
            blocks.append(Block("para", line))
    result = [b for b in blocks if b.kind != "sep"]
    for block in result:
        # fpdf2's markdown mode also treats "--" and "__" as formatting, and a lone "*" is
        # Markdown italics that neither output supports; fail loudly instead of printing
        # stray markup or silently underlining a dash range.
        for piece in [block.text, *block.items]:
            if "--" in piece or "__" in piece or "*" in BOLD.sub("", piece):
                raise ValueError(f"unsupported markup in: {piece!r}")
        if block.kind == "table":
            ncols = len(block.rows[0])
            if any(len(r) != ncols for r in block.rows) or len(block.widths) != ncols:
                raise ValueError(f"ragged table: {block.caption or block.rows[0]}")
    return result


def find_font_dir() -> Path:
    for directory in FONT_DIRS:
        if (directory / "DejaVuSans.ttf").is_file():
            return directory
    sys.exit(
        "DejaVuSans.ttf not found in "
        + ", ".join(str(d) for d in FONT_DIRS)
        + ". Install it, e.g. `apt-get install -y fonts-dejavu-core`."
    )


class CorpusPDF(FPDF):
    def __init__(self, spec: Spec):
        super().__init__(format="A4")
        self.spec = spec

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        page, of = self.spec.page_words
        self.cell(0, 6, f"{self.spec.footer} · {page} {self.page_no()} {of} {{nb}}", align="C")
        self.set_text_color(0)


def build_pdf(spec: Spec, blocks: list[Block], font_dir: Path, out: Path) -> None:
    pdf = CorpusPDF(spec)
    pdf.add_font(FONT, "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_title(blocks[0].text)
    pdf.set_author("Brisalux S.L.")
    pdf.set_subject(spec.subject)
    pdf.set_creator("scripts/make_sample_docs.py")
    pdf.set_lang(spec.lang)
    pdf.set_creation_date(spec.created)
    pdf.add_page()

    # Left-aligned rather than justified: justified lines stretch word spacing, which some
    # extractors turn into missing or doubled spaces, and the point of this corpus is clean text.
    def text(size: float, height: float, content: str, bold: bool = False) -> None:
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.multi_cell(
            0, height, content, align="L", markdown=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    for i, block in enumerate(blocks):
        if block.kind == "title":
            text(18, 9, block.text, bold=True)
            pdf.ln(2)
        elif block.kind == "meta":
            pdf.set_text_color(90)
            text(9, 4.6, block.text)
            pdf.set_text_color(0)
        elif block.kind in ("h1", "h2"):
            # Keep a heading on the same page as a few lines of its body, counting a
            # subheading that follows directly as part of the heading.
            stacked = i + 1 < len(blocks) and blocks[i + 1].kind == "h2"
            if pdf.will_page_break(24 + (12 if stacked else 0)):
                pdf.add_page()
            level = 0 if block.kind == "h1" else 1
            if pdf.y > pdf.t_margin:
                pdf.ln(5 if level == 0 else 2.5)
            pdf.start_section(block.text, level=level)
            text(13 if level == 0 else 11, 7 if level == 0 else 6, block.text, bold=True)
            pdf.ln(1)
        elif block.kind == "para":
            text(10, 5, block.text)
            pdf.ln(2.5)
        elif block.kind == "bullets":
            pdf.set_font(FONT, "", 10)
            for item in block.items:
                pdf.set_x(pdf.l_margin + 3)
                pdf.cell(5, 5, "•")
                pdf.multi_cell(
                    0, 5, item, align="L", markdown=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT
                )
                pdf.ln(1)
            pdf.ln(1.5)
        elif block.kind == "table":
            if pdf.will_page_break(40):
                pdf.add_page()
            if block.caption:
                text(9.5, 5, block.caption, bold=True)
                pdf.ln(1)
            pdf.set_font(FONT, "", 8.5)
            with pdf.table(
                col_widths=block.widths,
                text_align="LEFT",
                line_height=4.4,
                padding=1.5,
                headings_style=FontFace(emphasis="BOLD", fill_color=(222, 230, 240)),
            ) as table:
                for row in block.rows:
                    table_row = table.row()
                    for cell in row:
                        table_row.cell(cell)
            pdf.ln(4)
    pdf.output(str(out))


def add_runs(paragraph, content: str) -> None:
    # BOLD.split alternates plain text and the captured bold text.
    for i, piece in enumerate(BOLD.split(content)):
        if piece:
            paragraph.add_run(piece).bold = i % 2 == 1


def build_docx(spec: Spec, blocks: list[Block], out: Path) -> None:
    doc = Document()
    section = doc.sections[0]
    # The default template is US Letter; an EU company's documents are A4.
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2.5))
    text_width = Cm(16.0)
    doc.styles["Normal"].font.size = Pt(10.5)

    for block in blocks:
        if block.kind == "title":
            doc.add_heading(block.text, level=0)
        elif block.kind == "meta":
            doc.add_paragraph().add_run(block.text).italic = True
        elif block.kind == "h1":
            doc.add_heading(block.text, level=1)
        elif block.kind == "h2":
            doc.add_heading(block.text, level=2)
        elif block.kind == "para":
            add_runs(doc.add_paragraph(), block.text)
        elif block.kind == "bullets":
            for item in block.items:
                add_runs(doc.add_paragraph(style="List Bullet"), item)
        elif block.kind == "table":
            if block.caption:
                doc.add_paragraph(block.caption, style="Caption")
            table = doc.add_table(rows=len(block.rows), cols=len(block.widths))
            table.style = "Table Grid"
            total = sum(block.widths)
            for r, row in enumerate(block.rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.width = int(text_width * block.widths[c] / total)
                    cell.paragraphs[0].add_run(value).bold = r == 0

    props = doc.core_properties
    props.title = blocks[0].text
    props.subject = spec.subject
    props.author = "Brisalux S.L."
    props.last_modified_by = "Brisalux S.L."
    props.comments = "Generated by scripts/make_sample_docs.py"
    props.language = spec.lang
    props.revision = 1
    # python-docx would otherwise keep its template's 2013 dates; pin them to the edition date.
    props.created = spec.created
    props.modified = spec.created

    buffer = io.BytesIO()
    doc.save(buffer)
    out.write_bytes(normalize_zip(buffer.getvalue(), spec.created))


def normalize_zip(data: bytes, when: datetime) -> bytes:
    """Rewrite a ZIP with fixed timestamps: python-docx stamps each member with the save time."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            # The default depends on the OS that runs the script; pin it to "Unix".
            fixed.create_system = 3
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "sample_docs", help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    font_dir = find_font_dir()
    for spec in PDFS:
        blocks = parse((SOURCES / spec.source).read_text(encoding="utf-8"))
        build_pdf(spec, blocks, font_dir, args.out / spec.output)
    blocks = parse((SOURCES / DOCX.source).read_text(encoding="utf-8"))
    build_docx(DOCX, blocks, args.out / DOCX.output)

    for spec in (*PDFS, DOCX):
        path = args.out / spec.output
        print(f"{path}  {path.stat().st_size / 1024:.1f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
