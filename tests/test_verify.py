"""rag.answering.verify: each answer sentence's numbers, dates, amounts and names against its
sources."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rag.answering.answers import Answer, Source
from rag.answering.prompting import DECLINE
from rag.answering.verify import extract_facts, number_value, sentence_spans, verify_answer

ALLOWANCE = (
    "Travel is booked through the portal. The daily meal allowance (per diem) is 62 euros "
    "inside the country and 85 euros abroad. Receipts are not needed for the allowance."
)
VACACIONES = (
    "Los empleados con contrato indefinido tienen 27 días laborables de vacaciones al año. "
    "El kilometraje con vehículo propio se paga a 0,19 €/km. La política entra en vigor el "
    "1 de marzo de 2025."
)
PRODUCTS = (
    "Aura bulbs have a rated lifetime of 25,000 hours. The Nodo H2 hub supports Zigbee and "
    "Matter. Warehouse staff in Riba-roja handle 1.200 orders a day."
)


def source(number: int, text: str, name: str = "doc.md", heading: str = "") -> Source:
    return Source(
        number=number,
        source=f"docs/{name}",
        page=None,
        heading=heading,
        title="",
        text=text,
        score=1.0,
        hits=(),
    )


SOURCES = (
    source(1, ALLOWANCE, "travel.md"),
    source(2, VACACIONES, "politica.md"),
    source(3, PRODUCTS, "faq.txt"),
)


def only_check(text: str, sources=SOURCES):
    checked, checks = verify_answer(text, sources)
    assert len(checks) == 1, checks
    return checked, checks[0]


# -- golden cases ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        "The allowance abroad is 85 euros [1].",
        "The allowance abroad is €85 [1].",
        "The allowance abroad is 85 EUR [1].",
        "The allowance abroad is 85 € [1].",
        "Abroad the per diem is eighty-five euros [1].",
    ],
)
def test_an_amount_written_any_way_is_supported_with_its_quote(answer):
    checked, check = only_check(answer)
    assert checked == answer
    assert check.supported and check.missing == () and check.source_number == 1
    assert check.quote == (
        "The daily meal allowance (per diem) is 62 euros inside the country and 85 euros abroad."
    )
    assert check.cited == (1,) and check.corrected_from == ()


def test_a_wrong_amount_is_unsupported_and_quotes_the_closest_sentence():
    _, check = only_check("The allowance abroad is 90 euros [1].")
    assert not check.supported
    assert check.facts == ("90 euros",) and check.missing == ("90 euros",)
    assert check.source_number == 1 and "85 euros abroad" in check.quote


def test_an_amount_is_not_a_percentage_nor_another_currency():
    assert not only_check("The allowance abroad is 85% [1].")[1].supported
    assert not only_check("The allowance abroad is $85 [1].")[1].supported


@pytest.mark.parametrize(
    ("answer", "supported"),
    [
        ("Tienen 27 días de vacaciones [2].", True),
        ("Tienen veintisiete días de vacaciones [2].", True),
        ("Employees on permanent contracts get 27 days of holiday [2].", True),
        ("Tienen 20 días de vacaciones [2].", False),
        ("Tienen 27 semanas de vacaciones [2].", False),  # same number, another unit
    ],
)
def test_spanish_days(answer, supported):
    _, check = only_check(answer)
    assert check.supported is supported
    assert "27 días laborables" in check.quote and check.source_number == 2


@pytest.mark.parametrize(
    "answer",
    [
        "Mileage is paid at 0.19 euros per km [2].",
        "El kilometraje se paga a 0,19 € por kilómetro [2].",
        "Se pagan 19 céntimos por kilómetro [2].",
    ],
)
def test_a_decimal_comma_is_a_decimal_point(answer):
    _, check = only_check(answer)
    assert check.supported, check
    assert check.quote == "El kilometraje con vehículo propio se paga a 0,19 €/km."


@pytest.mark.parametrize(
    "answer",
    [
        "The policy starts on 1 March 2025 [2].",
        "The policy starts on March 1, 2025 [2].",
        "The policy starts on 2025-03-01 [2].",
        "La política entra en vigor el 01/03/2025 [2].",
        "The policy starts in March 2025 [2].",
    ],
)
def test_a_date_in_any_form_is_the_same_date(answer):
    _, check = only_check(answer)
    assert check.supported, check
    assert "1 de marzo de 2025" in check.quote


def test_another_date_is_unsupported():
    _, check = only_check("The policy starts on 1 April 2025 [2].")
    assert not check.supported and check.missing == ("1 April 2025",)


@pytest.mark.parametrize(
    "answer",
    ["The warehouse handles 1,200 orders a day [3].", "Riba-roja handles 1 200 orders [3]."],
)
def test_thousands_separators_english_spanish_and_spaces(answer):
    _, check = only_check(answer)
    assert check.supported, check
    assert "1.200 orders" in check.quote


def test_names_and_codes_must_be_in_the_sentence_too():
    assert only_check("The Nodo H2 hub supports Zigbee [3].")[1].supported
    _, wrong_code = only_check("The Nodo H3 hub supports Zigbee [3].")
    assert not wrong_code.supported and wrong_code.missing == ("H3",)
    _, wrong_name = only_check("The Nodo H2 hub supports Bluetooth [3].")
    assert not wrong_name.supported and wrong_name.missing == ("Bluetooth",)
    # Accent and case do not matter for a name, but an acronym that spells a word does.
    assert only_check("The warehouse in RIBA-ROJA handles 1.200 orders [3].")[1].supported
    assert only_check("Aura bulbs have a rated lifetíme [3].")[1].supported
    it_desk = source(1, "Laptops are replaced by the IT desk. Ask it.")
    assert only_check("Laptops are replaced by the IT desk [1].", [it_desk])[1].supported
    no_it = source(1, "Laptops are replaced when it breaks. Ask the desk.")
    assert not only_check("Laptops are replaced by the IT desk [1].", [no_it])[1].supported


def test_a_wrong_citation_is_corrected_to_the_source_that_supports_it():
    answer = "Employees have 27 days of holiday [1]. The allowance abroad is 85 euros [1]."
    checked, (first, second) = verify_answer(answer, SOURCES)
    assert checked == "Employees have 27 days of holiday [2]. The allowance abroad is 85 euros [1]."
    assert first.supported and first.cited == (1,) and first.corrected_from == (1,)
    assert first.source_number == 2 and "27 días" in first.quote
    assert second.corrected_from == () and second.source_number == 1


def test_a_citation_of_no_source_is_corrected_and_the_offsets_follow():
    checked, (first, second) = verify_answer(
        "Aura bulbs last 25,000 hours [12]. Receipts are not needed [1].", SOURCES
    )
    assert checked == "Aura bulbs last 25,000 hours [3]. Receipts are not needed [1]."
    assert first.corrected_from == (12,) and first.source_number == 3
    assert checked[second.start : second.end] == "Receipts are not needed [1]."


def test_the_quote_is_the_source_sentence_as_written():
    markdown = source(
        1,
        "## Dietas\n\nLa dieta diaria es de **45 euros**.\nLa política se revisa\n"
        "cada año.\n\n- Kilometraje: 0,26 euros por km",
    )
    quotes = [
        only_check(answer, [markdown])[1].quote
        for answer in ("La dieta es de 45 € [1].", "Se revisa cada año [1].", "0,26 €/km [1]")
    ]
    assert quotes == [
        "La dieta diaria es de **45 euros**.",
        "La política se revisa cada año.",
        "Kilometraje: 0,26 euros por km",
    ]


def test_an_unsupported_sentence_keeps_its_citation():
    checked, check = only_check("Employees have 40 days of holiday [1].")
    assert checked.endswith("[1].") and not check.supported and check.corrected_from == ()


def test_a_sentence_citing_nothing_is_checked_against_every_source_and_cites_its_own():
    checked, check = only_check("Aura bulbs last 25,000 hours.")
    assert checked == "Aura bulbs last 25,000 hours [3]."
    assert check.supported and check.cited == () and check.source_number == 3
    assert check.citation_added and check.corrected_from == ()
    assert checked[check.start : check.end] == checked


def test_an_added_citation_keeps_the_offsets_of_the_sentences_after_it():
    text = "Abroad it is 85 euros. Aura bulbs last 25,000 hours [3]. Nothing else to add"
    checked, (first, second, third) = verify_answer(text, SOURCES)
    assert (
        checked
        == "Abroad it is 85 euros [1]. Aura bulbs last 25,000 hours [3]. Nothing else to add"
    )
    assert first.citation_added and not second.citation_added and not third.citation_added
    assert checked[second.start : second.end] == "Aura bulbs last 25,000 hours [3]."
    assert checked[third.start : third.end] == "Nothing else to add"


def test_no_citation_is_added_inside_a_fragment_copied_across_an_ellipsis():
    text = "Aura bulbs last 25,000 hours.… and more"
    checked, checks = verify_answer(text, SOURCES)
    assert checked == text and not any(c.citation_added for c in checks)


def test_an_unsupported_sentence_citing_nothing_gets_no_citation():
    checked, check = only_check("Aura bulbs last 90,000 hours.")
    assert checked == "Aura bulbs last 90,000 hours."
    assert not check.supported and not check.citation_added


def test_facts_shared_between_two_cited_sources():
    _, check = only_check("Abroad it is 85 euros and the bulbs last 25,000 hours [1][3].")
    assert check.supported and check.missing == ()


def test_a_sentence_without_facts_needs_half_its_words_in_one_source_sentence():
    _, supported = only_check("Receipts are not needed for the allowance [1].")
    assert supported.supported and supported.facts == ()
    assert supported.quote == "Receipts are not needed for the allowance."
    _, unsupported = only_check("Managers approve every expense personally [1].")
    assert not unsupported.supported


@pytest.mark.parametrize("text", ["Yes [1].", "Sí.", "The allowances are:"])
def test_a_sentence_with_nothing_to_weigh_is_not_flagged(text):
    _, check = only_check(text)
    assert check.supported and check.facts == () and check.quote == ""


@pytest.mark.parametrize("decline", [*DECLINE.values(), "Sorry. " + DECLINE["en"]])
def test_a_decline_has_no_claims(decline):
    assert verify_answer(decline, SOURCES) == (decline, ())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "No citations here. The allowance abroad is 90 euros.",
        "  Leading and trailing spaces.  \n",
    ],
)
def test_text_no_source_supports_comes_back_unchanged(text):
    assert verify_answer(text, SOURCES)[0] == text


def test_no_sources_means_nothing_is_supported():
    _, check = only_check("The allowance abroad is 85 euros [1].", ())
    assert not check.supported and check.quote == "" and check.source_number is None


def test_a_list_item_is_a_sentence_and_its_number_is_no_fact():
    text = "The allowances are:\n1. 62 euros inside the country [1]\n2. 85 euros abroad [1]"
    checked, checks = verify_answer(text, SOURCES)
    assert [c.sentence for c in checks] == [
        "The allowances are:",
        "62 euros inside the country [1]",
        "85 euros abroad [1]",
    ]
    assert all(c.supported for c in checks)
    assert [c.facts for c in checks[1:]] == [("62 euros",), ("85 euros",)]


# -- offsets and round trips -------------------------------------------------------------

ANSWERS = [
    "",
    "One sentence.",
    "The allowance abroad is 85 euros [1]. Employees have 27 days [3][1].\n\nAura bulbs "
    "last 25,000 hours [1].",
    "- first item [2]\n- second item, e.g. art. 5 [1]\n\nThen 3.5 and 1,200 in text [12]",
    "Se pagan 0,19 €/km [1]. ¿Y los días? Son 27 [1]! Fin",
    "Aura bulbs last 25,000 hours [12]. Employees have 27 days [1]. Abroad: 85 euros [3]",
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_offsets_slice_the_final_text_back_to_each_sentence(answer):
    checked, checks = verify_answer(answer, SOURCES)
    assert [checked[c.start : c.end] for c in checks] == [c.sentence for c in checks]
    assert all(a.end <= b.start for a, b in zip(checks, checks[1:], strict=False))
    # Checking the checked text again changes nothing: the corrections are its own.
    again, checks_again = verify_answer(checked, SOURCES)
    assert again == checked and [c.supported for c in checks_again] == [c.supported for c in checks]


@pytest.mark.parametrize("answer", ANSWERS)
def test_sentences_keep_every_character_but_spaces_and_list_markers(answer):
    spans = sentence_spans(answer)
    rest = list(answer)
    for start, end in spans:
        rest[start:end] = [""] * (end - start)
    assert "".join(rest).replace("- ", "").strip() == ""


def test_sentences_split_at_stops_not_inside_numbers_or_abbreviations():
    text = (
        "Costs are 3.5 and 1,200 euros, e.g. for art. 5 [1]. Next [1][2]. See Brisalux S.L. "
        "con sede en Valencia. Really? Yes!"
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "Costs are 3.5 and 1,200 euros, e.g. for art. 5 [1].",
        "Next [1][2].",
        "See Brisalux S.L. con sede en Valencia.",
        "Really?",
        "Yes!",
    ]


def test_citations_after_the_stop_belong_to_the_sentence_before():
    text = "It is 85 euros. [1] Receipts are not needed. [1][2]"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "It is 85 euros. [1]",
        "Receipts are not needed. [1][2]",
    ]


# -- facts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1,200", "1200"),
        ("1.200", "1200"),
        ("1 200", "1200"),
        ("1,200.50", "1200.50"),
        ("1.200,50", "1200.50"),
        ("0,19", "0.19"),
        ("0.125", "0.125"),
        ("3.5", "3.5"),
        ("1,5", "1.5"),
        ("25,000", "25000"),
        ("1.000.000", "1000000"),
    ],
)
def test_number_values(written, value):
    assert number_value(written) == Decimal(value)


def facts_of(text: str) -> list[tuple[str, object, str]]:
    return [(f.kind, f.value, f.unit) for f in extract_facts(text)]


@pytest.mark.parametrize(
    ("written", "fact"),
    [
        ("62 €", ("amount", Decimal(62), "EUR")),
        ("€62", ("amount", Decimal(62), "EUR")),
        ("62 euros", ("amount", Decimal(62), "EUR")),
        ("62 EUR", ("amount", Decimal(62), "EUR")),
        ("15 %", ("percent", Decimal(15), "")),
        ("15%", ("percent", Decimal(15), "")),
        ("15 por ciento", ("percent", Decimal(15), "")),
        ("27 días", ("number", Decimal(27), "day")),
        ("27 working days", ("number", Decimal(27), "day")),
        ("24 hours", ("number", Decimal(24), "hour")),
        ("24 horas", ("number", Decimal(24), "hour")),
        ("24h", ("number", Decimal(24), "hour")),
        ("two weeks", ("number", Decimal(2), "week")),
        ("dos semanas", ("number", Decimal(2), "week")),
        ("a three-year warranty", ("number", Decimal(3), "year")),
        ("treinta y dos", ("number", Decimal(32), "")),
        ("1 March 2025", ("date", (2025, 3, 1), "")),
        ("1 de marzo de 2025", ("date", (2025, 3, 1), "")),
        ("2025-03-01", ("date", (2025, 3, 1), "")),
        ("March 1, 2025", ("date", (2025, 3, 1), "")),
        ("31 March", ("date", (None, 3, 31), "")),
        ("from 08:00", ("time", (8, 0), "")),
        ("at 3 pm", ("time", (15, 0), "")),
    ],
)
def test_one_fact_however_it_is_written(written, fact):
    assert facts_of(f"It is {written}.") == [fact]


@pytest.mark.parametrize(
    "text",
    [
        "It is paid [3].",  # a citation
        "Receipts are kept once a year.",  # "once" is no eleven in English
        "One of the rules.",
        "Employees may work from home.",  # "may" is no month
        "The answer is in your documents [1][2].",
    ],
)
def test_no_facts(text):
    assert extract_facts(text) == []


def test_names_acronyms_and_codes():
    facts = extract_facts("Approved by Lucía Sanchis: VPN access for the Panel Pro and PX-200.")
    assert [(f.kind, f.text) for f in facts] == [
        ("name", "Lucía Sanchis"),
        ("name", "VPN"),
        ("name", "Panel Pro"),
        ("code", "PX-200"),
    ]
    # A capital that only starts the sentence, a colon's clause or a quote is no name;
    # an acronym is one anywhere.
    assert extract_facts("Receipts: The portal says “Yes”.") == []
    assert [f.text for f in extract_facts("Ask HR about Brisalux's policy.")] == ["HR", "Brisalux"]
    assert [f.text for f in extract_facts("Lucía Sanchis signs it.")] == ["Sanchis"]


# -- the Answer ---------------------------------------------------------------------------


def test_claims_are_part_of_the_answer_and_its_dict():
    text, claims = verify_answer(
        "The allowance abroad is 90 euros [1]. Receipts are not needed [1].", SOURCES
    )
    answer = Answer(
        question="q",
        standalone_question="q",
        text=text,
        sources=SOURCES,
        citations=(1,),
        declined=False,
        claims=claims,
    )
    assert [c.sentence for c in answer.unsupported_claims] == [
        "The allowance abroad is 90 euros [1]."
    ]
    as_dict = answer.as_dict()["claims"]
    assert as_dict[0]["supported"] is False and as_dict[0]["missing"] == ["90 euros"]
    assert as_dict[1]["supported"] is True and as_dict[1]["quote"].startswith("Receipts")
    assert set(as_dict[0]) == {
        "sentence",
        "start",
        "end",
        "supported",
        "facts",
        "missing",
        "source_number",
        "quote",
        "cited",
        "corrected_from",
        "citation_added",
    }
