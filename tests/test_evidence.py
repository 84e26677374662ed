"""Focused evidence: which sentences the model reads, and the coverage signal."""

from rag.answering.answers import Source
from rag.answering.evidence import (
    GAP,
    best_window_coverage,
    coverage,
    focus_sources,
    sentence_spans,
)
from rag.text.lexical import query_word_stems


def word_count(text: str) -> int:
    return len(text.split())


def source(text: str, number: int = 1, name: str = "/docs/travel.md") -> Source:
    return Source(
        number=number,
        source=name,
        page=3,
        heading="Allowances",
        title="Travel",
        text=text,
        score=1.0 / number,
        hits=(),
    )


def question(text: str):
    stems = query_word_stems(text)
    return stems, [1.0] * len(stems)


TRAVEL = (
    "Trips are booked through the travel desk. Economy class is the rule for flights.\n"
    "The daily meal allowance (per diem) is 62 euros inside the country and 85 euros abroad. "
    "Receipts are not needed for the allowance. Hotels are reimbursed at cost.\n"
    "Taxis need a receipt."
)


def test_sentence_spans_cover_every_sentence_and_only_them():
    spans = sentence_spans(TRAVEL)
    pieces = [TRAVEL[a:b] for a, b in spans]
    assert pieces[0] == "Trips are booked through the travel desk."
    assert pieces[-1] == "Taxis need a receipt."
    assert len(pieces) == 6
    # Nothing but whitespace lies between the spans.
    rest = TRAVEL
    for piece in pieces:
        rest = rest.replace(piece, "", 1)
    assert rest.strip() == ""
    assert sentence_spans("") == [] and sentence_spans("  \n ") == []
    assert sentence_spans("It costs 3.5 euros. Yes.") == [(0, 19), (20, 24)]


def test_the_answer_sentence_is_chosen_with_its_neighbours():
    stems, weights = question("What is the daily meal allowance when travelling abroad?")
    [focused] = focus_sources([source(TRAVEL)], stems, weights, 200, word_count)
    assert "85 euros abroad" in focused.evidence
    assert "Economy class is the rule for flights." in focused.evidence  # the one before
    assert "Receipts are not needed" in focused.evidence  # the one after
    assert "Trips are booked" not in focused.evidence
    assert focused.evidence.startswith("… ") and focused.evidence.endswith(" …")
    assert focused.text == TRAVEL  # the card keeps the whole passage
    assert focused.read_text == focused.evidence


def test_the_budget_holds_and_sources_with_nothing_chosen_are_dropped():
    stems, weights = question("meal allowance abroad")
    other = source("Nothing here is relevant at all. Just filler words.", 2, "/docs/x.md")
    focused = focus_sources([source(TRAVEL), other], stems, weights, 25, word_count)
    assert [s.number for s in focused] == [1]
    assert sum(word_count(s.evidence.replace(GAP.strip(), "")) for s in focused) <= 25


def test_the_best_sentence_goes_in_even_over_budget():
    stems, weights = question("meal allowance abroad")
    [focused] = focus_sources([source(TRAVEL)], stems, weights, 3, word_count)
    assert "85 euros abroad" in focused.evidence


def test_sources_are_renumbered_in_order():
    stems, weights = question("taxi receipt hotel")
    first = source("Unrelated words only.", 1, "/docs/a.md")
    second = source(TRAVEL, 2)
    focused = focus_sources([first, second], stems, weights, 200, word_count)
    assert [(s.number, s.name) for s in focused] == [(1, "travel.md")]


def test_a_run_on_sentence_is_cut_around_the_question_words():
    filler = " ".join(f"filler{i}" for i in range(200))
    text = filler + " the allowance abroad is 85 euros " + filler
    stems, weights = question("allowance abroad")
    [focused] = focus_sources([source(text)], stems, weights, 500, word_count)
    assert "allowance abroad is 85 euros" in focused.evidence
    assert word_count(focused.evidence) <= 64


def test_coverage_counts_the_question_words_found():
    stems, weights = question("meal allowance abroad")
    assert coverage("The meal allowance abroad.", stems, weights) == 1.0
    assert round(coverage("The meal budget.", stems, weights), 3) == round(1 / 3, 3)
    assert coverage("anything", [], []) == 0.0
    # Two neighbouring sentences count together, but not sentences further apart.
    split = source("A meal is served. The allowance applies. Filler one. Filler abroad.")
    assert round(best_window_coverage([split], stems, weights), 3) == round(2 / 3, 3)


SALES_ROWS = (
    "Región | Producto | Unidades T3 | Responsable\n\n"
    "Región: Madrid; Producto: Nodo hub; Unidades T3: 4320; Responsable: Elena Vidal\n\n"
    "Región: Andalucía; Producto: Panel Pro 60; Unidades T3: 1275; Responsable: Rafael Ortega\n\n"
    "Región: Irlanda; Producto: Aura bulb; Unidades T3: 6890; Responsable: Ciara Byrne"
)


def test_a_table_row_is_evidence_alone_without_the_rows_around_it():
    stems, weights = question("¿Quién es el responsable de ventas en Andalucía?")
    [focused] = focus_sources([source(SALES_ROWS)], stems, weights, 200, word_count)
    rows = focused.evidence.split("\n")
    # Rows chosen for their own words stay one to a line, each with its own values.
    assert "Región: Andalucía; Producto: Panel Pro 60; Unidades T3: 1275; " in rows[2]
    assert all(row.count("Región: ") == 1 for row in rows[1:])
    # A row chosen alone brings no neighbours: no other row says "Andalucía" here.
    weights = [0.1 if "respons" in stem else 1.0 for stem in stems]
    [focused] = focus_sources([source(SALES_ROWS)], stems, weights, 200, word_count)
    assert "Rafael Ortega" in focused.evidence
    assert "Elena Vidal" not in focused.evidence and "Ciara Byrne" not in focused.evidence
    # Prose keeps its neighbours, asides with colons and semicolons included.
    prose = (
        "The Amazon rainforest (Portuguese: Floresta Amazônica; Spanish: Selva Amazónica) is "
        "a moist broadleaf forest.\nIt covers most of the Amazon basin."
    )
    stems, weights = question("What is the Portuguese name of the Amazon rainforest?")
    [focused] = focus_sources([source(prose)], stems, weights, 200, word_count)
    assert "Amazon basin" in focused.evidence
