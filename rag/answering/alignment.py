"""Value alignment: a value taken from the wrong row of a table is moved to the right one.

Loaders write a table row as "Zona: Madrid; Servicio: Montaje de Panel Pro 90; Tarifa
(EUR): 124", one row per line. A small model asked for the Madrid price often gives the
Barcelona one from the line above: the claim check passes it, since the value is in the
source. Which row the question means is told by its words: the row whose cells (not its
column names, which every row shares) hold most of the question's word weight. When the
answer's number sits only in rows that hold less of the question than that row, it is
replaced by that row's value in the same column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.answering.answers import Source
from rag.answering.evidence import TABLE_ROW
from rag.answering.verify import QUANTITY_KINDS, extract_facts, quantities
from rag.text.cooccurrence import coverage


@dataclass(frozen=True)
class Row:
    source_number: int
    cells: tuple[tuple[str, str], ...]  # (column name, value) as written
    coverage: float  # share of the question's word weight its values hold

    def value(self, column: str) -> str | None:
        return next((v for c, v in self.cells if c == column), None)


def table_rows(
    sources: Sequence[Source], word_stems: Sequence[tuple[str, ...]], weights: Sequence[float]
) -> list[Row]:
    rows = []
    for source in sources:
        for line in source.text.splitlines():
            line = line.strip()
            if not TABLE_ROW.match(line):
                continue
            cells = tuple(
                (column.strip(), value.strip())
                for column, _, value in (cell.partition(": ") for cell in line.split("; "))
            )
            values = " ".join(value for _, value in cells)
            rows.append(Row(source.number, cells, coverage(values, word_stems, weights)))
    return rows


def align_values(
    text: str,
    sources: Sequence[Source],
    word_stems: Sequence[tuple[str, ...]],
    weights: Sequence[float],
) -> str:
    """The answer with each number that came from a row the question does not mean
    replaced by the same column's value in the row it does mean (the text unchanged when
    there is no table, or nothing to move)."""
    rows = table_rows(sources, word_stems, weights)
    if len(rows) < 2:
        return text
    best = max(rows, key=lambda r: r.coverage)
    if sum(r.coverage == best.coverage for r in rows) > 1:
        return text  # the question does not single out one row
    for fact in extract_facts(text, names=False):
        if fact.kind not in QUANTITY_KINDS:
            continue
        # The cells holding the answer's value, in every row.
        holding = [
            (row, column)
            for row in rows
            for column, value in row.cells
            if fact.value in quantities(value)
        ]
        if not holding or any(row is best for row, _ in holding):
            continue
        columns = {column for _, column in holding}
        if len(columns) != 1:
            continue  # the value is in different columns: which one was meant is unclear
        wanted = best.value(columns.pop())
        if wanted is None or len(quantities(wanted)) != 1:
            continue
        # Only the digits change: the answer keeps its own unit ("124 euros").
        old_digits, new_digits = _DIGITS.search(fact.text), _DIGITS.search(wanted)
        if old_digits and new_digits:
            moved = fact.text.replace(old_digits.group(), new_digits.group(), 1)
            text = _replace_citing(text, fact.text, moved, best.source_number)
    return text


_DIGITS = re.compile(r"\d(?:[\d.,\u00a0 ]*\d)?")


def _replace_citing(text: str, old: str, new: str, source_number: int) -> str:
    """`old` replaced by `new` once, and the citation of its sentence made [source_number]
    (the right row may be in another source)."""
    at = text.find(old)
    if at < 0:
        return text
    text = text[:at] + new + text[at + len(old) :]
    end = re.search(r"[.!?](?:\s|$)|$", text[at:]).start() + at
    sentence = re.sub(r"\[\d+\]", f"[{source_number}]", text[at:end])
    return text[:at] + sentence + text[end:]
