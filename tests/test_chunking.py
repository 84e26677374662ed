import pytest

from ingest import ParsedDocument, Section
from rag.config import ChunkerSettings
from rag.text.chunking import chunk_document, document_text, embedding_input
from rag.text.embedding import HashEmbedder

COUNT = HashEmbedder().count_tokens
SMALL = ChunkerSettings(max_tokens=20, overlap_tokens=6)


def doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(path="x.md", title="X", format="markdown", sections=sections)


LONG_PROSE = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
NO_BREAKS = " ".join(f"word{i}" for i in range(500))
TABLE = "\n".join(f"| row {i} | value {i * 3} | note |" for i in range(40))

CASES = {
    "empty": doc(),
    "blank_section": doc(Section("   \n\n  ")),
    "one_word": doc(Section("hello")),
    "prose": doc(Section(LONG_PROSE, page=1, heading=("A", "B"))),
    "no_breaks": doc(Section(NO_BREAKS)),
    "table_lines": doc(Section(TABLE, page=2)),
    "many_sections": doc(
        Section("First page text. " * 20, page=1, heading=("Intro",)),
        Section("", page=2),
        Section("Accented política, niño, acción. " * 15, page=3, heading=("Política",)),
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_offsets_rebuild_the_document_text(name):
    parsed = CASES[name]
    text, spans = document_text(parsed)
    chunks = chunk_document(parsed, "sha", COUNT, SMALL)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
    # Every non-blank character of every section lies inside some chunk: nothing is lost.
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    lost = "".join(ch for ch, c in zip(text, covered, strict=True) if not c and not ch.isspace())
    assert lost == ""
    assert [c.position for c in chunks] == list(range(len(chunks)))


@pytest.mark.parametrize("name", ["prose", "no_breaks", "table_lines", "many_sections"])
def test_chunks_fit_the_token_budget(name):
    for chunk in chunk_document(CASES[name], "sha", COUNT, SMALL):
        assert COUNT([chunk.text])[0] <= SMALL.max_tokens + 2  # +2: joining may add a mark


def test_chunks_keep_page_and_heading_and_never_cross_sections():
    chunks = chunk_document(CASES["many_sections"], "sha", COUNT, SMALL)
    assert {c.page for c in chunks} == {1, 3}
    assert {c.heading for c in chunks} == {"Intro", "Política"}
    for c in chunks:
        assert ("Accented" in c.text) == (c.page == 3)


def test_consecutive_chunks_overlap():
    # Sentences here are 9 tokens: an overlap of 12 carries one sentence over.
    chunks = chunk_document(CASES["prose"], "sha", COUNT, ChunkerSettings(40, 12))
    assert len(chunks) > 3
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.end, "the next chunk re-reads the tail of the previous one"
        assert b.start > a.start, "but always moves forward"


def test_keys_are_stable_and_depend_on_content_hash():
    first = chunk_document(CASES["prose"], "sha-1", COUNT, SMALL)
    again = chunk_document(CASES["prose"], "sha-1", COUNT, SMALL)
    other = chunk_document(CASES["prose"], "sha-2", COUNT, SMALL)
    assert [c.key for c in first] == [c.key for c in again]
    assert not {c.key for c in first} & {c.key for c in other}
    assert len({c.key for c in first}) == len(first)


def test_default_settings_stay_inside_the_embedder_window():
    chunks = chunk_document(CASES["prose"], "sha", COUNT)
    assert all(COUNT([c.text])[0] <= ChunkerSettings().max_tokens + 2 for c in chunks)


def test_embedding_input_puts_context_first():
    assert embedding_input("Handbook", "Holidays", "23 days") == "Handbook > Holidays\n23 days"
    assert embedding_input("", "", "text") == "text"
