"""Value alignment: a number read off the wrong row of a table moves to the row the
question names (rag.answering.alignment)."""

from rag.answering.alignment import align_values, table_rows
from rag.answering.answers import Source
from rag.text.lexical import query_word_stems

RATES = "\n".join(
    f"Código: INS-P9-{zone[:3].upper()}; Servicio: Montaje de Panel Pro 90; Zona: {zone}; "
    f"Tarifa (EUR): {price}; Horas: 2.5"
    for zone, price in [("Valencia", 104), ("Madrid", 124), ("Barcelona", 119)]
)
PRICES = (
    "Product: Aura bulb E27 9 W; List price (EUR): 14; Warranty: 3 years\n"
    "Product: Nodo hub gen 2; List price (EUR): 79; Warranty: 2 years"
)


def source(text: str, number: int = 1) -> Source:
    return Source(number, f"/docs/t{number}.pdf", 2, "", "", text, 0.9, ())


def aligned(answer: str, question: str, *texts: str) -> str:
    stems = query_word_stems(question)
    sources = [source(t, n) for n, t in enumerate(texts, 1)]
    return align_values(answer, sources, stems, [1.0] * len(stems))


def test_a_price_from_the_row_above_moves_to_the_row_the_question_names():
    question = "¿Cuánto cuesta el montaje de un Panel Pro 90 en Madrid?"
    assert aligned("El montaje cuesta 104 euros [1].", question, RATES) == (
        "El montaje cuesta 124 euros [1]."
    )
    assert aligned("119 EUR [1].", question, RATES) == "124 EUR [1]."


def test_the_right_row_is_left_alone():
    question = "¿Cuánto cuesta el montaje de un Panel Pro 90 en Madrid?"
    assert aligned("124 euros [1].", question, RATES) == "124 euros [1]."


def test_a_question_that_names_no_single_row_moves_nothing():
    # Every row is a Panel Pro 90 installation: no row holds more of the question.
    question = "¿Cuánto cuesta el montaje de un Panel Pro 90?"
    assert aligned("104 euros [1].", question, RATES) == "104 euros [1]."


def test_the_right_row_in_another_source_is_cited():
    question = "What is the list price of the Nodo hub gen 2?"
    rates_first = aligned("14 euros [1].", question, PRICES.splitlines()[0], PRICES.splitlines()[1])
    assert rates_first == "79 euros [2]."


def test_column_names_do_not_count_toward_the_row():
    rows = table_rows([source(PRICES)], query_word_stems("list price warranty"), [1.0] * 3)
    assert [r.coverage for r in rows] == [0.0, 0.0]


def test_prose_and_values_outside_tables_are_left_alone():
    question = "What is the list price of the Nodo hub gen 2?"
    prose = "The Nodo hub gen 2 costs 79 euros. The Aura bulb costs 14 euros."
    assert aligned("14 euros [1].", question, prose) == "14 euros [1]."
