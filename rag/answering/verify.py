"""Check each sentence of an answer against the sources it cites.

Small local models write fluent sentences that get a number wrong, or cite [2] for what
[1] says. A reader checks an answer by its numbers, dates, amounts and names, so those
are what is checked here: each answer sentence's checkable facts are looked up in the
sentences of the sources it cites (all sources when it cites none). A sentence is
supported when one source sentence (or two adjacent ones) holds all of them; a sentence
with nothing checkable is supported when a source sentence holds half its content words.

Every verdict carries the source sentence it rests on, verbatim, so the reader can see
the evidence rather than trust a score. When the cited source does not support a
sentence but another does, the citation in the text is corrected and the check says so;
a supported sentence that cites nothing gets its source's number, so every fact the
reader sees can be traced to a file and page.

It is lexical on purpose: no model, milliseconds per answer, and a verdict anyone can
retrace. English and Spanish spellings of one value are the same fact: "1,200" and
"1.200", "0,19 €" and "0.19 euros", "27 días" and "27 days", "1 de marzo de 2025" and
"March 1, 2025".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from rag.answering.answers import ClaimCheck, Source
from rag.answering.prompting import DECLINE
from rag.text.lexical import STOPWORDS, content_word_stems, fold, text_stems, words

# -- sentences -----------------------------------------------------------------------------

# A run of citations: "[1]", "[1][2]", "[1, 2]".
CITATIONS = re.compile(r"(?:\[\d+(?:\s*,\s*\d+)*\])(?:\s*\[\d+(?:\s*,\s*\d+)*\])*")
# The end of a sentence: its stop, closing quotes or brackets, then any citations, which
# belong to the sentence before them.
_END = re.compile(r"""[.!?…]+["'”’»)*_]*(?:\s*\[\d+(?:\s*,\s*\d+)*\])*["'”’»)]*(?=\s|$)""")
# A line that starts a list item or a heading starts a new sentence, stop or no stop.
_LINE_START = re.compile(r"\n[ \t]*(?:[-*•·▪]|\d{1,2}[.)]|#{1,6})[ \t]")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
# The marker of a list item or heading, kept out of the sentence it introduces.
_MARKER = re.compile(r"(?:[-*•·▪]|\d{1,2}[.)]|#{1,6})[ \t]+")
# Words a full stop follows without ending the sentence ("e.g.", "art. 5", "p. 3").
_ABBREVIATIONS = frozenset(
    """
    e.g i.e eg ie approx vs cf fig figs no nos nº núm num art arts p pp pág págs pag ej
    p.ej sr sra srta sres dr dra mr mrs ms st av avda ud uds vd aprox tel tlf ext dept
    inc ltd co corp etc
    """.split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`: no surrounding spaces, no list marker,
    its citations included. Decimal points, thousands separators and abbreviations do
    not end a sentence; list items and headings always start one."""
    cuts = {0, len(text)}
    for match in _END.finditer(text):
        if _ends_sentence(text, match):
            cuts.add(match.end())
    for pattern in (_LINE_START, _BLANK_LINE):
        cuts.update(m.start() for m in pattern.finditer(text))
    spans = []
    edges = sorted(cuts)
    for start, end in zip(edges, edges[1:], strict=False):
        while start < end and text[start].isspace():
            start += 1
        if marker := _MARKER.match(text, start, end):
            start = marker.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def _ends_sentence(text: str, stop: re.Match) -> bool:
    if not stop.group().startswith("."):
        return True  # ! ? …
    before = re.search(r"[\w.]*$", text[: stop.start()]).group().casefold()
    after = text[stop.end() :].lstrip()
    if before.strip(".") in _ABBREVIATIONS - {"etc"}:
        return False
    if len(before) == 1 and before.isalpha():  # an initial: "J. Smith"
        return False
    line = text[: stop.start()].rpartition("\n")[2]
    if line.strip().isdigit() and len(line.strip()) <= 2:  # "1. " numbering a list item
        return False
    # "S.L. con contrato", "approx. five": a new sentence would start with a capital.
    return not (after[:1].islower())


# -- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A checkable item: `kind` and `value` say what must match, `text` is as written.

    kinds: "number" (value Decimal, unit a canonical unit or ""), "amount" (unit is the
    currency), "percent", "date" (value (year, month, day), any part None), "time"
    ((hour, minute)), "weekday" (0-6), "name" (value the folded words), "code" ("PX200").
    """

    kind: str
    value: object
    text: str
    unit: str = ""


_MONTHS = {
    **dict.fromkeys(["january", "jan", "enero", "ene"], 1),
    **dict.fromkeys(["february", "feb", "febrero"], 2),
    **dict.fromkeys(["march", "mar", "marzo"], 3),
    **dict.fromkeys(["april", "apr", "abril", "abr"], 4),
    **dict.fromkeys(["may", "mayo"], 5),
    **dict.fromkeys(["june", "jun", "junio"], 6),
    **dict.fromkeys(["july", "jul", "julio"], 7),
    **dict.fromkeys(["august", "aug", "agosto", "ago"], 8),
    **dict.fromkeys(["september", "sep", "sept", "septiembre", "setiembre"], 9),
    **dict.fromkeys(["october", "oct", "octubre"], 10),
    **dict.fromkeys(["november", "nov", "noviembre"], 11),
    **dict.fromkeys(["december", "dec", "diciembre", "dic"], 12),
}
# A month named alone is a fact only by its full name, and never "may" (the verb).
_LONE_MONTHS = {m: n for m, n in _MONTHS.items() if len(m) > 4 or m in {"june", "july"}}
_LONE_MONTHS.update({"mayo": 5, "junio": 6, "julio": 7})
_WEEKDAYS = {
    **dict.fromkeys(["monday", "mondays", "lunes"], 0),
    **dict.fromkeys(["tuesday", "tuesdays", "martes"], 1),
    **dict.fromkeys(["wednesday", "wednesdays", "miercoles"], 2),
    **dict.fromkeys(["thursday", "thursdays", "jueves"], 3),
    **dict.fromkeys(["friday", "fridays", "viernes"], 4),
    **dict.fromkeys(["saturday", "saturdays", "sabado", "sabados"], 5),
    **dict.fromkeys(["sunday", "sundays", "domingo", "domingos"], 6),
}
_SPELLED = {
    **dict.fromkeys(["two", "dos"], 2),
    **dict.fromkeys(["three", "tres"], 3),
    **dict.fromkeys(["four", "cuatro"], 4),
    **dict.fromkeys(["five", "cinco"], 5),
    **dict.fromkeys(["six", "seis"], 6),
    **dict.fromkeys(["seven", "siete"], 7),
    **dict.fromkeys(["eight", "ocho"], 8),
    **dict.fromkeys(["nine", "nueve"], 9),
    **dict.fromkeys(["ten", "diez"], 10),
    **dict.fromkeys(["eleven"], 11),
    **dict.fromkeys(["twelve", "doce"], 12),
    "thirteen": 13, "trece": 13, "fourteen": 14, "catorce": 14, "fifteen": 15,
    "quince": 15, "sixteen": 16, "dieciseis": 16, "seventeen": 17, "diecisiete": 17,
    "eighteen": 18, "dieciocho": 18, "nineteen": 19, "diecinueve": 19,
    "twenty": 20, "veinte": 20, "veintiuno": 21, "veintiun": 21, "veintidos": 22,
    "veintitres": 23, "veinticuatro": 24, "veinticinco": 25, "veintiseis": 26,
    "veintisiete": 27, "veintiocho": 28, "veintinueve": 29,
    "thirty": 30, "treinta": 30, "forty": 40, "cuarenta": 40, "fifty": 50,
    "cincuenta": 50, "sixty": 60, "sesenta": 60, "seventy": 70, "setenta": 70,
    "eighty": 80, "ochenta": 80, "ninety": 90, "noventa": 90,
    "cien": 100,
}  # fmt: skip
# Words that are a number only before a unit: "one day", "once días" (but "one of the",
# "once a year", "un/una" the article).
_SPELLED_BEFORE_UNIT = {"one": 1, "uno": 1, "una": 1, "un": 1, "once": 11}
_UNITS = {
    **dict.fromkeys(["day", "days", "dia", "dias", "d"], "day"),
    **dict.fromkeys(["week", "weeks", "wk", "wks", "semana", "semanas"], "week"),
    **dict.fromkeys(["month", "months", "mes", "meses"], "month"),
    **dict.fromkeys(["year", "years", "yr", "yrs", "ano", "anos"], "year"),
    **dict.fromkeys(["hour", "hours", "hr", "hrs", "h", "hora", "horas"], "hour"),
    **dict.fromkeys(["minute", "minutes", "min", "mins", "minuto", "minutos"], "minute"),
    **dict.fromkeys(["second", "seconds", "segundo", "segundos", "sec", "secs"], "second"),
    **dict.fromkeys(
        ["km", "kms", "kilometre", "kilometres", "kilometer", "kilometers", "kilometro",
         "kilometros"],
        "km",
    ),
    **dict.fromkeys(["m", "metre", "metres", "meter", "meters", "metro", "metros"], "m"),
    # Units, but not compared: "5.5 W" is only 5.5 to check.
    **dict.fromkeys(["cm", "mm", "kg", "g", "w", "kw", "kwh", "k", "v", "gb", "mb", "tb"], ""),
    **dict.fromkeys(["lm", "lumen", "lumens", "lumenes"], "lumen"),
}  # fmt: skip
# A unit word follows its number at once, or after one of these ("25 working days").
_UNIT_ADJECTIVES = (
    "working|business|calendar|paid|full|extra|consecutive|additional|more|"
    "laborables|habiles|naturales|completos|libres|mas"
)
_CURRENCIES = {
    **dict.fromkeys(["€", "eur", "euro", "euros"], "EUR"),
    **dict.fromkeys(["$", "usd", "us$", "dollar", "dollars", "dolar", "dolares"], "USD"),
    **dict.fromkeys(["£", "gbp", "pound", "pounds", "libra", "libras"], "GBP"),
}
# "19 cents" is 0.19 of whatever currency.
_CENTS = {"cent": "*", "cents": "*", "centimo": "EUR", "centimos": "EUR"}

_DIGITS = (
    # Grouped thousands: "1,200", "1.200", "1 200", "25,000.50"; a leading 0 is a decimal.
    r"[1-9]\d{0,2}(?:(?:,\d{3})+|(?:\.\d{3})+|(?:[ \u00a0\u202f]\d{3})+)(?:[.,]\d+)?(?!\d)"
    r"|\d+(?:[.,]\d+)?"
)
# A number not inside a word or a code ("E27", "PX-200"), nor after a decimal mark.
_NUMBER = re.compile(rf"(?<![\w.,])(?<![a-z]-)(?:{_DIGITS})")
_TENS = "|".join(w for w, n in _SPELLED.items() if n >= 20 and n % 10 == 0 and n < 100)
_ONES = "|".join(w for w, n in _SPELLED.items() if n < 10)
_OTHER_SPELLED = sorted(
    {*_SPELLED, *_SPELLED_BEFORE_UNIT} - set(_TENS.split("|")), key=len, reverse=True
)
# "twenty-seven", "treinta y dos", "veintisiete", "three".
_SPELLED_WORD = re.compile(
    rf"\b(?:({_TENS})(?:(?:-| y )({_ONES}))?|({'|'.join(_OTHER_SPELLED)}))\b"
)
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = (
    # 2025-03-01
    (re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"), "ymd"),
    # 01/03/2025, 1.3.2025: day first, as written in Spain and most of Europe.
    (re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})\b"), "dmy"),
    # 1 March 2025, 1st of March, 1 de marzo de 2025, 1 mar. 2025
    (
        re.compile(
            rf"\b(\d{{1,2}})(?:st|nd|rd|th|º|°)?(?:\s+(?:de|of))?\s+({_MONTH})\b\.?"
            r"(?:,?\s+(?:de\s+|del\s+)?(\d{4})\b)?"
        ),
        "dMy",
    ),
    # March 1, 2025; March 1st
    (
        re.compile(rf"\b({_MONTH})\b\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"),
        "Mdy",
    ),
    # March 2025, marzo de 2025
    (re.compile(rf"\b({_MONTH})\b\.?(?:\s+(?:de|of))?,?\s+(\d{{4}})\b"), "My"),
)
_TIME = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b(?:\s?h\b)?")
_TIME_12 = re.compile(r"\b(1[0-2]|0?[1-9])(?::([0-5]\d))?\s?([ap])\.?\s?m\b\.?")
# Codes mix letters and digits: "PX-200", "E27", "GU10", "IP65", "COVID-19", "2FA".
_CODE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])[^\W_]+(?:-[^\W_]+)*(?![\w-])")
_NOT_CODE = re.compile(
    r"\d+(?:st|nd|rd|th|º|ª|°|er|o|a|am|pm|x|"
    + "|".join(u for u in _UNITS if len(u) <= 3 and u.isalpha())
    + r")",
    re.IGNORECASE,
)
_NAME_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_ALL_STOPWORDS = STOPWORDS["en"] | STOPWORDS["es"]


def folded_same_length(text: str) -> str:
    """Lowercase without accents, one character per character, so that offsets found in
    it are offsets into `text` ("ß" and other expanding letters are kept as they are)."""
    out = []
    for ch in text:
        folded = fold(ch)
        out.append(folded if len(folded) == 1 else ch.lower() if len(ch.lower()) == 1 else ch)
    return "".join(out)


def number_value(digits: str) -> Decimal:
    """ "1,200" "1.200" "1 200" → 1200; "0,19" "0.19" → 0.19; "1.200,50" → 1200.50.

    One separator followed by exactly three digits groups thousands (English "1,200",
    Spanish "1.200") unless the number starts with 0; otherwise it is the decimal mark.
    """
    digits = re.sub(r"[ \u00a0\u202f]", "", digits)
    if "," in digits and "." in digits:
        decimal_mark = "," if digits.rfind(",") > digits.rfind(".") else "."
        whole, _, fraction = digits.rpartition(decimal_mark)
        return Decimal(re.sub(r"[.,]", "", whole) + "." + fraction)
    for mark in ",.":
        parts = digits.split(mark)
        if len(parts) > 2 or (len(parts) == 2 and len(parts[1]) == 3 and parts[0] != "0"):
            return Decimal("".join(parts))
        if len(parts) == 2:
            return Decimal(parts[0] + "." + parts[1])
    return Decimal(digits)


QUANTITY_KINDS = ("number", "amount", "percent")


def quantities(text: str) -> list:
    """The values of the numbers, amounts and percentages in `text`, whatever their unit."""
    return [f.value for f in extract_facts(text, names=False) if f.kind in QUANTITY_KINDS]


def extract_facts(text: str, names: bool = True) -> list[Fact]:
    """The checkable facts of one sentence, in order, citations and list numbers left out.

    Dates go first and then times, so that their numbers are not counted again as bare
    numbers; `names=False` skips names and codes (sources are searched for those word by
    word instead)."""
    text = CITATIONS.sub(lambda m: " " * len(m.group()), text)
    if marker := _MARKER.match(text):
        text = " " * marker.end() + text[marker.end() :]
    folded = folded_same_length(text)
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, Fact]] = []

    def add(start: int, end: int, fact: Fact) -> None:
        if not any(start < b and a < end for a, b in taken):
            taken.append((start, end))
            found.append((start, fact))

    for start, end, value in _dates(folded):
        add(start, end, Fact("date", value, _clean(text[start:end])))
    for match in _TIME.finditer(folded):
        value = (int(match.group(1)), int(match.group(2)))
        add(*match.span(), Fact("time", value, match.group().strip()))
    for match in _TIME_12.finditer(folded):
        hour = int(match.group(1)) % 12 + (12 if match.group(3) == "p" else 0)
        value = (hour, int(match.group(2) or 0))
        add(*match.span(), Fact("time", value, _clean(text[slice(*match.span())])))
    if names:
        for match in _CODE.finditer(text):
            if not _NOT_CODE.fullmatch(match.group()):
                code = re.sub(r"[^\w]", "", match.group()).upper()
                add(*match.span(), Fact("code", code, match.group()))
    for match in _NUMBER.finditer(folded):
        if quantity := _quantity(text, folded, *match.span(), number_value(match.group())):
            add(*quantity)
    for match in _SPELLED_WORD.finditer(folded):
        needs_unit = (match.group(3) or "") in _SPELLED_BEFORE_UNIT
        quantity = _quantity(text, folded, *match.span(), _spelled_value(match), needs_unit)
        if quantity:
            add(*quantity)
    for match in re.finditer(r"[^\W\d_]+", folded):
        word = match.group()
        if word in _WEEKDAYS:
            add(*match.span(), Fact("weekday", _WEEKDAYS[word], text[slice(*match.span())]))
        elif word in _LONE_MONTHS:
            value = (None, _LONE_MONTHS[word], None)
            add(*match.span(), Fact("date", value, text[slice(*match.span())]))
    if names:
        for start, end in _name_spans(text, taken):
            name = text[start:end]
            add(start, end, Fact("name", tuple(words(name)), name))
    unique: dict[tuple, Fact] = {}
    for _, fact in sorted(found, key=lambda pair: pair[0]):
        unique.setdefault((fact.kind, fact.value, fact.unit), fact)  # as first written
    return list(unique.values())


def _clean(text: str) -> str:
    return " ".join(text.split()).rstrip(".,")


def _dates(folded: str):
    """(start, end, (year, month, day)) for each date, longest forms first."""
    for pattern, order in _DATE_PATTERNS:
        for match in pattern.finditer(folded):
            groups = dict(zip(order, match.groups(), strict=True))
            year = groups.get("y")
            month = groups.get("m") or _MONTHS.get(groups.get("M", ""))
            day = groups.get("d")
            year = int(year) + (2000 if len(year) == 2 else 0) if year else None
            month, day = int(month), int(day) if day else None
            if order == "dmy" and month > 12 and day and day <= 12:  # 03/31/2025
                month, day = day, month
            if 1 <= month <= 12 and (day is None or 1 <= day <= 31):
                yield match.start(), match.end(), (year, month, day)


def _spelled_value(match: re.Match) -> Decimal:
    if match.group(1):
        return Decimal(_SPELLED[match.group(1)] + _SPELLED.get(match.group(2) or "", 0))
    word = match.group(3)
    return Decimal(_SPELLED.get(word, _SPELLED_BEFORE_UNIT.get(word, 0)))


_PREFIX_CURRENCY = re.compile(r"(?<![a-z])(€|\$|£|us\$|eur|usd|gbp)\s?$")
_SUFFIX = re.compile(
    r"\s?(?:-\s?)?(?:(?P<percent>%|percent\b|per cent\b|por ciento\b)"
    r"|(?P<currency>€|\$|£|(?:eur|euros?|usd|dollars?|dolar(?:es)?|gbp|pounds?|libras?)\b)"
    r"|(?P<cents>cents?\b|centimos?\b)"
    rf"|(?:(?:{_UNIT_ADJECTIVES})\s)?(?P<unit>[a-z]+)\b)"
)


def _quantity(
    text: str, folded: str, start: int, end: int, value: Decimal, needs_unit: bool = False
) -> tuple[int, int, Fact] | None:
    """The number at start:end as the fact that what is written around it makes it: an
    amount (a currency sign or word before or after), a percentage, a quantity of a unit,
    or a bare number. None for a word like "one" without a unit after it."""
    if prefix := _PREFIX_CURRENCY.search(folded, max(0, start - 5), start):
        currency = _CURRENCIES[prefix.group(1)]
        return prefix.start(), end, Fact("amount", value, text[prefix.start() : end], currency)
    suffix = _SUFFIX.match(folded, end)
    stop = suffix.end() if suffix else end
    written = text[start:stop]
    if suffix and suffix.group("percent"):
        return start, stop, Fact("percent", value, written)
    if suffix and suffix.group("currency"):
        return start, stop, Fact("amount", value, written, _CURRENCIES[suffix.group("currency")])
    if suffix and suffix.group("cents"):
        return start, stop, Fact("amount", value / 100, written, _CENTS[suffix.group("cents")])
    if suffix and suffix.group("unit") in _UNITS:
        return start, stop, Fact("number", value, written, _UNITS[suffix.group("unit")])
    if needs_unit:
        return None
    return start, end, Fact("number", value, text[start:end])


def _name_spans(text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs of capitalised words and acronyms: "Lucía Sanchis", "Panel Pro", "VPN".

    A capital at the start of a sentence (or after a colon, a bracket, a quote) says
    nothing, so that word is left out ("Ask HR" names HR; "Lucía Sanchis signs" only
    Sanchis), unless it is an acronym. Function words and single letters never count.
    """
    runs: list[list[tuple[int, int]]] = []
    previous_end = None
    for match in _NAME_WORD.finditer(text):
        word, (start, end) = match.group(), match.span()
        if possessive := re.search(r"['’]s$", word):  # "Brisalux's"
            word, end = word[: possessive.start()], start + possessive.start()
        acronym = len(word) >= 2 and word.isupper()
        capitalised = len(word) > 1 and word[0].isupper() and fold(word) not in _ALL_STOPWORDS
        if (
            not (acronym or capitalised)
            or (not acronym and _AT_START.search(text[:start]))
            or any(start < b and a < end for a, b in taken)
        ):
            previous_end = None
            continue
        if previous_end is not None and text[previous_end:start] in (" ", "\u00a0"):
            runs[-1].append((start, end))
        else:
            runs.append([(start, end)])
        previous_end = end
    return [(run[0][0], run[-1][1]) for run in runs]


# What may come before the first word of a sentence: nothing, a colon, a bracket or an
# opening quote, then opening marks.
_AT_START = re.compile(r"""(?:^|[:;\n(\[]|\s["“«‘])[\s"'“‘«¿¡(*_]*$""")


# -- source sentences ----------------------------------------------------------------------


@dataclass(frozen=True)
class Passage:
    """One source sentence, or two adjacent ones: where an answer sentence's facts are
    looked for. Its words and stems are folded, so "politica" finds "política"."""

    number: int  # the source's number
    text: str  # verbatim, whitespace collapsed: the quote
    single: bool  # one sentence, not a pair
    facts: tuple[Fact, ...]
    words: frozenset[str]
    stems: frozenset[str]
    tokens: frozenset[str]  # letter-and-digit runs as written, alone and in pairs
    label_words: frozenset[str]  # the file name and heading the model read beside it


def _passages(source: Source) -> list[Passage]:
    """The source's sentences, then each pair of neighbours (a number's unit or subject
    is sometimes in the sentence next to it)."""
    sentences = [" ".join(source.text[a:b].split()) for a, b in sentence_spans(source.text)]
    label = f"{source.name} {source.heading} {source.title}"
    label_words = frozenset(words(label)) | frozenset(text_stems(label))
    # "page 2" and the heading's section numbers are what the model read in the label.
    page = f" page {source.page}" if source.page else ""
    label_facts = tuple(extract_facts(source.heading + page, names=False))
    singles = [_passage(source.number, s, True, label_facts, label_words) for s in sentences]
    pairs = [
        _passage(source.number, f"{a} {b}", False, label_facts, label_words)
        for a, b in zip(sentences, sentences[1:], strict=False)
    ]
    return singles + pairs


def _passage(number: int, text: str, single: bool, label_facts, label_words) -> Passage:
    runs = re.findall(r"[^\W_]+", text)
    tokens = {t.upper() for t in runs} | {
        (a + b).upper() for a, b in zip(runs, runs[1:], strict=False)
    }
    return Passage(
        number=number,
        text=text,
        single=single,
        facts=tuple(extract_facts(text, names=False)) + label_facts,
        words=frozenset(words(text)),
        stems=frozenset(text_stems(text)),
        tokens=frozenset(tokens),
        label_words=label_words,
    )


def _holds(passage: Passage, fact: Fact) -> bool:
    """Whether the passage states the fact: the same value, and the same kind of value."""
    if fact.kind == "name":
        if fact.text.isupper() and fold(fact.text) in _ALL_STOPWORDS:
            return _acronym_in(passage, fact.text)  # "IT" is not "it", "US" not "us"
        return all(_holds_word(passage, word) for word in fact.value)
    if fact.kind == "code":
        return fact.value in passage.tokens
    if fact.kind == "date":
        return any(_same_date(fact.value, other, passage) for other in passage.facts)
    kinds = [f for f in passage.facts if f.kind == fact.kind and f.value == fact.value]
    if fact.kind in ("time", "weekday"):
        return bool(kinds)
    same_value = [f for f in passage.facts if f.kind != "date" and f.value == fact.value]
    if fact.kind == "number":
        if not fact.unit:  # a bare number is any quantity of that value, or a year
            return bool(same_value) or _year_in(passage, fact.value)
        return any(f.kind == "number" and f.unit in (fact.unit, "") for f in same_value)
    # Amounts and percentages. In "62 or 85 euros" and "10-15 %" only the last number
    # carries the sign: a bare number of the value counts when the passage has the sign.
    currency = fact.unit if fact.kind == "amount" else ""
    if any(f.unit in (currency, "*") or fact.unit == "*" for f in kinds):
        return True
    signed = [f for f in passage.facts if f.kind == fact.kind]
    if fact.kind == "amount":
        signed = [f for f in signed if f.unit in (currency, "*") or fact.unit == "*"]
    bare = any(f.kind == "number" and not f.unit for f in same_value)
    return bare and bool(signed)


def _holds_word(passage: Passage, word: str) -> bool:
    """A name's word, in any accent, case or inflection, in the passage or its label."""
    if word in passage.words or word in passage.label_words:
        return True
    stems = text_stems(word)
    return bool(stems & passage.stems or stems & passage.label_words)


def _acronym_in(passage: Passage, acronym: str) -> bool:
    return bool(re.search(rf"(?<!\w){re.escape(acronym)}(?!\w)", passage.text)) or (
        acronym.casefold() in passage.label_words
    )


def _same_date(wanted: tuple, fact: Fact, passage: Passage) -> bool:
    if fact.kind != "date":
        return False
    year, month, day = wanted
    other_year, other_month, other_day = fact.value
    if month != other_month or (day is not None and day != other_day):
        return False
    # "31 March 2026" is in "the 2026 calendar ... ends on 31 March".
    return year is None or year == other_year or (other_year is None and _year_in(passage, year))


def _year_in(passage: Passage, year) -> bool:
    return any(
        (f.kind == "number" and not f.unit and f.value == year)
        or (f.kind == "date" and f.value[0] == year)
        for f in passage.facts
    )


def _overlap(stems: Sequence[tuple[str, ...]], passage: Passage) -> float:
    """The share of a sentence's content words the passage holds, in any form."""
    if not stems:
        return 0.0
    return sum(bool(set(word) & passage.stems) for word in stems) / len(stems)


# -- verdicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """The passage that best supports a claim, and which of its facts it holds."""

    passage: Passage | None
    found: frozenset[Fact]
    overlap: float

    def supports(self, facts: Sequence[Fact]) -> bool:
        if self.passage is None:
            return False
        if facts:
            return len(self.found) == len(facts)
        return self.overlap >= 0.5


@dataclass(frozen=True)
class _Claim:
    """An answer sentence as checked: its facts and content words, citations aside."""

    facts: tuple[Fact, ...]
    stems: list[tuple[str, ...]]
    cited: tuple[int, ...]
    introduces_list: bool

    @classmethod
    def of(cls, sentence: str) -> _Claim:
        cited = tuple(int(n) for m in CITATIONS.findall(sentence) for n in re.findall(r"\d+", m))
        bare = " ".join(CITATIONS.sub(" ", sentence).split())
        return cls(
            facts=tuple(extract_facts(bare)),
            stems=content_word_stems(bare),
            cited=tuple(dict.fromkeys(cited)),
            introduces_list=bare.endswith(":"),
        )

    @property
    def checkable(self) -> bool:
        # "The range includes:" introduces a list whose items carry the claims; "Yes."
        # or "Sí, se puede." has too few words to weigh.
        return bool(self.facts) or (len(self.stems) >= 2 and not self.introduces_list)


def _best_evidence(claim: _Claim, candidates: Sequence[Passage]) -> _Evidence:
    """The passage holding most of the claim's facts; then one that supports it; then a
    single sentence before a pair (a tighter quote); then most of its words; then the
    first."""
    best, best_key = _Evidence(None, frozenset(), 0.0), None
    for order, passage in enumerate(candidates):
        evidence = _Evidence(
            passage,
            frozenset(f for f in claim.facts if _holds(passage, f)),
            _overlap(claim.stems, passage),
        )
        if not evidence.found and not evidence.overlap:
            continue  # nothing in common: no quote is better than an unrelated one
        key = (
            len(evidence.found),
            evidence.supports(claim.facts),
            passage.single,
            evidence.overlap,
            -order,
        )
        if best_key is None or key > best_key:
            best, best_key = evidence, key
    return best


def _judge(
    claim: _Claim, by_source: dict[int, list[Passage]]
) -> tuple[bool, _Evidence, int | None]:
    """(supported, evidence, the source to cite instead or None) for one claim.

    The cited sources are searched first. When they fail (or the sentence cites none)
    the others are: a claim they support is supported, and if it cited something else
    it should cite that source. Unsupported, the evidence is the closest passage, from a
    cited source unless another is strictly closer.
    """
    cited = [n for n in claim.cited if n in by_source]

    def search(numbers) -> _Evidence:
        return _best_evidence(claim, [p for n in numbers for p in by_source[n]])

    evidence = search(cited)
    if evidence.supports(claim.facts):
        return True, evidence, None
    if len(cited) > 1 and claim.facts:
        # "[1][2]": each cited source may hold part of the facts.
        parts = [search([n]) for n in cited]
        if frozenset().union(*(part.found for part in parts)) == frozenset(claim.facts):
            best = max(parts, key=lambda part: (len(part.found), part.overlap))
            return True, _Evidence(best.passage, frozenset(claim.facts), best.overlap), None
    elsewhere = search([n for n in by_source if n not in cited])
    if elsewhere.supports(claim.facts):
        return True, elsewhere, elsewhere.passage.number if claim.cited else None
    if (len(elsewhere.found), elsewhere.overlap) > (len(evidence.found), evidence.overlap):
        evidence = elsewhere
    return False, evidence, None


def is_decline(text: str) -> bool:
    """The model's "cannot find the answer" reply: nothing in it to check."""
    folded = fold(text)
    return any(fold(sentence).rstrip(".") in folded for sentence in DECLINE.values())


def verify_answer(text: str, sources: Sequence[Source]) -> tuple[str, tuple[ClaimCheck, ...]]:
    """Check each sentence of `text` against the sources; correct wrong citations.

    Returns the text (the same string unless a citation was corrected or added) and one
    ClaimCheck per sentence, whose `start:end` slice the returned text. A decline
    ("I cannot find the answer…") has no checks.
    """
    if not text.strip() or is_decline(text):
        return text, ()
    by_source = {s.number: _passages(s) for s in sources}
    pieces: list[str] = []  # the returned text, built sentence by sentence
    length = 0
    checks: list[ClaimCheck] = []
    last = 0
    for start, end in sentence_spans(text):
        gap, sentence = text[last:start], text[start:end]
        check = _check_sentence(sentence, by_source, _can_take_citation(sentence, text[end:]))
        if check.corrected_from:
            sentence = CITATIONS.sub(f"[{check.source_number}]", sentence)
        elif check.citation_added:
            sentence = with_citation(sentence, check.source_number)
        begin = length + len(gap)
        pieces += [gap, sentence]
        length = begin + len(sentence)
        checks.append(replace(check, sentence=sentence, start=begin, end=length))
        last = end
    pieces.append(text[last:])
    return "".join(pieces), tuple(checks)


_CLOSING = re.compile(r"[.!?…:;]*$")


def with_citation(sentence: str, number: int) -> str:
    """The sentence with "[number]" before its closing punctuation."""
    sentence = sentence.rstrip()
    closing = _CLOSING.search(sentence)
    return f"{sentence[: closing.start()].rstrip()} [{number}]{closing.group()}"


def _can_take_citation(sentence: str, after: str) -> bool:
    """Whether a citation may be added to a sentence that cites nothing: not to a question
    (the model echoing one states nothing), nor inside a fragment the model copied across
    a "…" of the evidence (a number in its middle would only cut it further)."""
    return not sentence.rstrip().endswith("?") and "…" not in sentence + after.lstrip()[:1]


def _check_sentence(
    sentence: str, by_source: dict[int, list[Passage]], can_take_citation: bool = True
) -> ClaimCheck:
    """One sentence's check; its offsets are within the sentence (the caller places it)."""
    claim = _Claim.of(sentence)
    if not claim.checkable:
        supported, evidence, cite_instead = True, _Evidence(None, frozenset(), 0.0), None
    else:
        supported, evidence, cite_instead = _judge(claim, by_source)
    passage = evidence.passage
    return ClaimCheck(
        sentence=sentence,
        start=0,
        end=len(sentence),
        supported=supported,
        facts=tuple(f.text for f in claim.facts),
        missing=tuple(f.text for f in claim.facts if f not in evidence.found),
        source_number=passage.number if passage else None,
        quote=passage.text if passage else "",
        cited=claim.cited,
        corrected_from=claim.cited if cite_instead is not None else (),
        # Supported by a source it does not name: the reader is shown which one.
        citation_added=supported and not claim.cited and passage is not None and can_take_citation,
    )
