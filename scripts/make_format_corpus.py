"""Write the formats evaluation set: Brisalux files in every format ingest/ reads beyond
the sample corpus's, with questions whose answers sit in slides, sheet cells, e-mail
bodies, attachments and scanned pages.

Brisalux S.L. is the fictional smart-lighting company of sample_docs/; every name and
figure here is invented. The set has the layout of the shared evaluation sets (docs/,
questions.jsonl, dataset.json; hit rule answer-in-source), so `python -m rag.eval OUT`
scores it, and each question names its format, so the scores are also given per format.
`truth.json` holds the text drawn on each scanned page, for OCR's character error rate
(scripts/benchmark.py --only formats).

Nothing is downloaded and the files are made the same way on every run (fixed dates).

Usage:
    .venv/bin/python scripts/make_format_corpus.py OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import mailbox
import sys
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import docx
import pypdfium2 as pdfium
from fpdf import FPDF
from openpyxl import Workbook
from PIL import Image, ImageChops
from pptx import Presentation
from pptx.util import Inches, Pt

WHEN = datetime(2026, 10, 5, 9, 30).astimezone()

# -- the documents ---------------------------------------------------------------------

SALES_ROWS = [
    ["Región", "Producto", "Unidades T3", "Ingresos T3 (EUR)", "Responsable"],
    ["Comunidad Valenciana", "Aura bulb", 18400, 257600, "Marta Soler"],
    ["Cataluña", "Línea LED strip", 9150, 238900, "Jordi Puig"],
    ["Madrid", "Nodo hub", 4320, 341280, "Elena Vidal"],
    ["Andalucía", "Panel Pro 60", 1275, 318750, "Rafael Ortega"],
    ["Irlanda", "Aura bulb", 6890, 103350, "Ciara Byrne"],
]
TARGET_ROWS = [
    ["Trimestre", "Objetivo de ingresos (EUR)", "Comentario"],
    ["T3 2026", 1200000, "Objetivo revisado en julio"],
    ["T4 2026", 1450000, "Campaña de Navidad del Nodo hub"],
]
STOCK_ROWS = [
    ["SKU", "Product", "Warehouse", "Units on hand", "Reorder level"],
    ["AUR-E27-9W", "Aura bulb E27 9 W", "Riba-roja", "12840", "4000"],
    ["LIN-5M-RGB", "Línea LED strip 5 m", "Riba-roja", "3310", "1500"],
    ["NOD-HUB-2", "Nodo hub gen 2", "Dublin Port", "742", "900"],
    ["PNL-PRO-60", "Panel Pro 60x60", "Riba-roja", "415", "250"],
]

SLIDES_EN = [
    ("Q3 2026 all-hands", ["Brisalux S.L.", "Valencia and Dublin, 8 October 2026"], None, ""),
    (
        "Where we stand",
        ["Revenue reached EUR 1.26 million in Q3, 5% over target.",
         "The Nodo hub gen 2 sold out in Dublin in September."],
        None,
        "Thank the Dublin logistics team for the weekend shifts.",
    ),
    (
        "Hiring plan",
        ["We open 14 positions before March."],
        [["Team", "Open roles", "Location"], ["Firmware", "6", "Valencia"],
         ["Customer care", "5", "Dublin"], ["Sales", "3", "Madrid"]],
        "",
    ),
    (
        "Office moves",
        ["The Dublin office moves to 9 Grand Canal Square on 1 February."],
        None,
        "Desks are assigned by team; the move checklist is on the intranet.",
    ),
]  # fmt: skip
SLIDES_ES = [
    ("Lanzamiento del Panel Pro 90", ["Presentación para el equipo comercial"], None, ""),
    (
        "Precio y disponibilidad",
        ["Precio de venta recomendado: 489 euros.",
         "Disponible en tiendas a partir del 16 de noviembre."],
        None,
        "Recordad que el precio para distribuidores es confidencial.",
    ),
    (
        "Argumentos de venta",
        ["Consume un 22 % menos que el Panel Pro 60.", "Garantía de cinco años."],
        [["Modelo", "Lúmenes", "Consumo"], ["Panel Pro 60", "3600", "36 W"],
         ["Panel Pro 90", "5400", "42 W"]],
        "",
    ),
]  # fmt: skip

CONTRACT_PAGES = [
    "Supply agreement between Brisalux S.L. and Hanzhou Optics Ltd.\n"
    "Effective date: 1 November 2026. Term: 24 months.",
    "Delivery terms\nGoods are delivered to the Riba-roja warehouse within 45 days of each "
    "purchase order. Late deliveries earn a credit of 2% of the order value per week.",
]
SUPPORT_MAILS = [
    ("Incidencia 4471: el Nodo hub no se conecta",
     "Hola, tras la actualización 3.2.1 el Nodo hub del cliente Hotel Mar Azul no se conecta "
     "a la red de 5 GHz. Hemos pedido un equipo de sustitución.",
     "Pau Ferrer <pau@brisalux.example>"),
    ("Incidencia 4480: parpadeo de las Aura",
     "El cliente Óptica Llum informa de parpadeo en 30 bombillas Aura. La causa es un regulador "
     "incompatible; se recomienda el regulador Brisalux DIM-2.",
     "Nuria Gil <nuria@brisalux.example>"),
    ("Cierre de la incidencia 4471",
     "Se envió el equipo de sustitución el 14 de octubre y el firmware 3.2.2 corrige el fallo "
     "de conexión.", "Pau Ferrer <pau@brisalux.example>"),
]  # fmt: skip

SCAN_EN = [
    "SAFETY NOTICE - RIBA-ROJA WAREHOUSE",
    "Forklifts must not exceed 8 km/h inside the building.",
    "The emergency assembly point is car park B.",
    "Report every incident to the shift leader within 2 hours.",
]
SCAN_ES = [
    "AVISO DE SEGURIDAD - OFICINA DE VALENCIA",
    "El simulacro de evacuación es el 19 de noviembre a las 11:00.",
    "El punto de encuentro es la plaza del Mercado Central.",
]

# Installation rates: a ruled PDF table longer than one passage, so a passage cut falls
# between its rows. Rates are a function of the row so that no two rows look alike.
RATE_SERVICES = [("INS-A", "Instalación de bombilla Aura", 0.5),
                 ("INS-L", "Instalación de tira Línea LED (5 m)", 1.5),
                 ("INS-N", "Configuración del Nodo hub", 1.0),
                 ("INS-P6", "Montaje de Panel Pro 60", 2.0),
                 ("INS-P9", "Montaje de Panel Pro 90", 2.5),
                 ("REV", "Revisión anual de la instalación", 1.0)]  # fmt: skip
RATE_ZONES = [("Valencia", 38), ("Madrid", 46), ("Barcelona", 44), ("Dublín", 52)]
RATE_ROWS = [["Código", "Servicio", "Zona", "Tarifa (EUR)", "Horas"]] + [
    [f"{code}-{zone[:3].upper()}", service, zone, str(round(hourly * hours + 9 * (z + 1))),
     f"{hours:g}"]
    for code, service, hours in RATE_SERVICES
    for z, (zone, hourly) in enumerate(RATE_ZONES)
]  # fmt: skip

PRICE_TABLE = [
    ["Product", "List price (EUR)", "Warranty"],
    ["Aura bulb E27 9 W", "14", "3 years"],
    ["Nodo hub gen 2", "79", "2 years"],
    ["Panel Pro 60x60", "259", "5 years"],
]


def _rate(code: str) -> str:
    return next(row[3] for row in RATE_ROWS if row[0] == code)


# (question, answers (any of them: the forms a reader or the model may write), gold file,
#  format, language)
QUESTIONS = [
    ("¿Cuántas unidades de Línea LED strip se vendieron en Cataluña en el T3?",
     ["9150", "9.150", "9,150"], "ventas_2026.xlsx", "xlsx", "es"),
    ("¿Quién es el responsable de ventas en Andalucía?", ["Rafael Ortega"], "ventas_2026.xlsx",
     "xlsx", "es"),
    ("¿Cuál es el objetivo de ingresos para el T4 2026?",
     ["1450000", "1.450.000", "1,450,000", "1,45 millones"], "ventas_2026.xlsx", "xlsx", "es"),
    ("How many Nodo hub gen 2 units are on hand at the Dublin Port warehouse?", ["742"],
     "warehouse_stock.csv", "csv", "en"),
    ("What is the reorder level of the Panel Pro 60x60?", ["250"],
     "warehouse_stock.csv", "csv", "en"),
    ("How many firmware positions are open in Valencia?", ["6", "six"],
     "q3_all_hands.pptx", "pptx", "en"),
    ("What revenue did Brisalux reach in Q3 2026?", ["1.26 million", "1.26 M"], "q3_all_hands.pptx",
     "pptx", "en"),
    ("Where does the Dublin office move to?", ["9 Grand Canal Square"], "q3_all_hands.pptx",
     "pptx", "en"),
    ("¿Cuál es el precio de venta recomendado del Panel Pro 90?", ["489"],
     "presentacion_lanzamiento.pptx", "pptx", "es"),
    ("¿Cuántos lúmenes da el Panel Pro 90?", ["5400", "5.400", "5,400"],
     "presentacion_lanzamiento.pptx", "pptx", "es"),
    ("What is the term of the Hanzhou Optics supply agreement?", ["24 months", "two years"],
     "supplier_contract.eml", "eml", "en"),
    ("Within how many days must Hanzhou Optics deliver to the Riba-roja warehouse?",
     ["45 days"], "supplier_contract.eml", "eml", "en"),
    ("When must the signed supplier agreement be returned to legal?", ["20 October", "October 20"],
     "supplier_contract.eml", "eml", "en"),
    ("¿Qué regulador se recomienda para el parpadeo de las bombillas Aura?", ["DIM-2"],
     "soporte.mbox", "mbox", "es"),
    ("¿Qué versión de firmware corrige el fallo de conexión del Nodo hub?", ["3.2.2"],
     "soporte.mbox", "mbox", "es"),
    ("What is the speed limit for forklifts in the Riba-roja warehouse?", ["8 km/h"],
     "safety_notice_scan.pdf", "scanned pdf", "en"),
    ("Where is the emergency assembly point of the warehouse?", ["car park B"],
     "safety_notice_scan.pdf", "scanned pdf", "en"),
    ("¿Cuándo es el simulacro de evacuación de la oficina de Valencia?", ["19 de noviembre"],
     "aviso_seguridad.png", "png", "es"),
    ("¿Dónde está el punto de encuentro en caso de evacuación en Valencia?",
     ["Mercado Central"], "aviso_seguridad.png", "png", "es"),
    ("What is the list price of the Nodo hub gen 2?", ["79"],
     "price_list.docx", "docx table", "en"),
    ("What warranty does the Panel Pro 60x60 have?", ["5 years", "five years"], "price_list.docx",
     "docx table", "en"),
    ("¿Cuánto cuesta el montaje de un Panel Pro 90 en Madrid?", [_rate("INS-P9-MAD")],
     "tarifas_instalacion.pdf", "pdf table", "es"),
    ("How much does the annual installation review cost in Dublin?", [_rate("REV-DUB")],
     "tarifas_instalacion.pdf", "pdf table", "en"),
    ("¿Cuántas horas lleva instalar una tira Línea LED de 5 m?", ["1.5", "1,5"],
     "tarifas_instalacion.pdf", "pdf table", "es"),
    ("What does configuring a Nodo hub cost in Barcelona?", [_rate("INS-N-BAR")],
     "tarifas_instalacion.pdf", "pdf table", "en"),
]  # fmt: skip
# Questions the files do not answer, though they come close (a product, a region or a
# site the documents do not cover): a good answer declines them.
UNANSWERABLE = [
    ("What is the list price of the Aura bulb GU10?", "en"),
    ("¿Cuántas unidades se vendieron en Portugal en el T3?", "es"),
    ("When is the evacuation drill at the Dublin office?", "en"),
    ("¿Cuánto cuesta el montaje de un Panel Pro 90 en Sevilla?", "es"),
    ("How many positions are open in the Lisbon office?", "en"),
]


# -- writers ---------------------------------------------------------------------------


def write_workbook(path: Path) -> None:
    book = Workbook()
    sales = book.active
    sales.title = "Ventas T3"
    for row in SALES_ROWS:
        sales.append(row)
    targets = book.create_sheet("Objetivos")
    for row in TARGET_ROWS:
        targets.append(row)
    book.properties.title = "Ventas 2026"
    book.properties.created = book.properties.modified = WHEN.replace(tzinfo=None)
    book.save(str(path))


def write_csv(path: Path) -> None:
    path.write_text("\n".join(",".join(row) for row in STOCK_ROWS) + "\n", encoding="utf-8")


def write_deck(path: Path, slides, title: str) -> None:
    deck = Presentation()
    deck.core_properties.title = title
    deck.core_properties.created = deck.core_properties.modified = WHEN.replace(tzinfo=None)
    for number, (heading, lines, table, notes) in enumerate(slides):
        layout = deck.slide_layouts[0 if number == 0 else 5]
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = heading
        if number == 0:
            slide.placeholders[1].text = "\n".join(lines)
        else:
            box = slide.shapes.add_textbox(Inches(0.7), Inches(1.6), Inches(8.5), Inches(1.5))
            box.text_frame.word_wrap = True
            for i, line in enumerate(lines):
                paragraph = (
                    box.text_frame.paragraphs[0] if i == 0 else box.text_frame.add_paragraph()
                )
                paragraph.text = line
                paragraph.font.size = Pt(20)
        if table:
            shape = slide.shapes.add_table(
                len(table), len(table[0]), Inches(0.7), Inches(3.4), Inches(8.5), Inches(2)
            )
            for r, row in enumerate(table):
                for c, value in enumerate(row):
                    shape.table.cell(r, c).text = value
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))


def pdf_bytes(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_creation_date(WHEN)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def write_contract_mail(path: Path) -> None:
    message = EmailMessage()
    message["Subject"] = "Hanzhou Optics supply agreement for signature"
    message["From"] = "Laura Martí <laura.marti@brisalux.example>"
    message["To"] = "legal@brisalux.example"
    message["Date"] = format_datetime(WHEN)
    message.set_content(
        "Hi all,\n\nattached is the final supply agreement with Hanzhou Optics. Please return "
        "the signed agreement to legal by 20 October so that the first purchase order can "
        "go out in November.\n\nLaura"
    )
    message.add_attachment(
        pdf_bytes(CONTRACT_PAGES), maintype="application", subtype="pdf",
        filename="hanzhou_supply_agreement.pdf",
    )  # fmt: skip
    path.write_bytes(bytes(message))


def write_mailbox(path: Path) -> None:
    path.unlink(missing_ok=True)
    box = mailbox.mbox(str(path))
    for day, (subject, body, sender) in enumerate(SUPPORT_MAILS):
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = sender
        message["To"] = "soporte@brisalux.example"
        message["Date"] = format_datetime(WHEN.replace(day=10 + day))
        message.set_content(body)
        box.add(message)
    box.flush()
    box.close()


def scan_image(lines: list[str], dpi: int = 200, worn: bool = False):
    """A page of text rendered to a picture at `dpi`, as a scanner would make it. A worn
    scan is a phone photo of a notice board: 110 dpi, 2.5 degrees askew, grainy."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    for line in lines:
        pdf.multi_cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    document = pdfium.PdfDocument(bytes(pdf.output()))
    image = document[0].render(scale=(110 if worn else dpi) / 72, grayscale=True).to_pil()
    document.close()
    if worn:
        image = image.rotate(2.5, resample=Image.Resampling.BICUBIC, fillcolor=255)
        # Seeded by Pillow's own generator (effect_noise): the same grain on every run.
        grain = Image.effect_noise(image.size, 80).point(lambda v: v - 128)
        image = ImageChops.add(image, grain, scale=1.0, offset=0)
    return image


def write_scanned_pdf(path: Path, lines: list[str]) -> None:
    picture = path.with_suffix(".tmp.png")
    scan_image(lines).save(picture)
    pdf = FPDF()
    pdf.set_creation_date(WHEN)
    pdf.add_page()
    pdf.image(str(picture), x=0, y=0, w=pdf.w, h=pdf.h)
    pdf.output(str(path))
    picture.unlink()


def write_rate_table(path: Path) -> None:
    pdf = FPDF()
    pdf.set_creation_date(WHEN)
    pdf.set_title("Tarifas de instalación 2026")
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)  # Latin-1: Spanish accents are in it
    pdf.cell(0, 10, "Tarifas de instalación 2026", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 6, "Tarifas por servicio y zona, IVA no incluido. Desplazamiento incluido.",
                   new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    with pdf.table(col_widths=(22, 70, 26, 24, 14), first_row_as_headings=True) as table:
        for values in RATE_ROWS:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.multi_cell(0, 6, "Las tarifas de Dublín se facturan desde Brisalux Ireland Ltd.",
                   new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    pdf.output(str(path))


def write_price_list(path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Brisalux price list 2026"
    document.core_properties.created = WHEN.replace(tzinfo=None)
    document.add_heading("Brisalux price list 2026", level=1)
    document.add_paragraph("Prices for retailers in Spain and Ireland, VAT excluded.")
    table = document.add_table(rows=len(PRICE_TABLE), cols=len(PRICE_TABLE[0]))
    for r, row in enumerate(PRICE_TABLE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(str(path))


def build(out: Path) -> dict:
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    write_workbook(docs / "ventas_2026.xlsx")
    write_csv(docs / "warehouse_stock.csv")
    write_deck(docs / "q3_all_hands.pptx", SLIDES_EN, "Q3 2026 all-hands")
    write_deck(docs / "presentacion_lanzamiento.pptx", SLIDES_ES, "Lanzamiento del Panel Pro 90")
    write_contract_mail(docs / "supplier_contract.eml")
    write_mailbox(docs / "soporte.mbox")
    write_scanned_pdf(docs / "safety_notice_scan.pdf", SCAN_EN)
    scan_image(SCAN_ES, worn=True).save(docs / "aviso_seguridad.png")
    write_price_list(docs / "price_list.docx")
    write_rate_table(docs / "tarifas_instalacion.pdf")
    with (out / "questions.jsonl").open("w", encoding="utf-8") as f:
        for number, (question, answers, source, fmt, lang) in enumerate(QUESTIONS, start=1):
            record = {
                "id": f"formats-{number}", "question": question, "answers": answers,
                "gold": [{"source": source, "page": None}], "answerable": True,
                "lang": lang, "format": fmt,
            }  # fmt: skip
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        for number, (question, lang) in enumerate(UNANSWERABLE, start=len(QUESTIONS) + 1):
            record = {
                "id": f"formats-{number}", "question": question, "answers": [], "gold": [],
                "answerable": False, "lang": lang, "format": "none",
            }  # fmt: skip
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    (out / "dataset.json").write_text(
        json.dumps({"name": "formats", "match": "answer-in-source"}, indent=2) + "\n",
        encoding="utf-8",
    )
    truth = {"safety_notice_scan.pdf": {"1": "\n".join(SCAN_EN)},
             "aviso_seguridad.png": {"1": "\n".join(SCAN_ES)}}  # fmt: skip
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n")
    return {"files": len(list(docs.iterdir())), "questions": len(QUESTIONS) + len(UNANSWERABLE)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write docs/ and questions.jsonl into")
    args = parser.parse_args(argv)
    made = build(args.out)
    print(f"{args.out}: {made['files']} files, {made['questions']} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
