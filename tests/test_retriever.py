"""Hybrid search behaviour with the hash embedder."""

import numpy as np
import pytest

from rag import Retriever, ingest_paths
from rag.config import SearchSettings
from rag.errors import ConfigError
from rag.search.retriever import DEFAULT_DENSE_WEIGHT, MEASURED_DENSE_WEIGHT
from rag.text.embedding import MULTILINGUAL_EMBEDDER_ID
from rag.text.lexical import analyze, fts_match, guess_language, query_terms


@pytest.fixture
def retriever(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        yield r


@pytest.mark.parametrize("query", ["politica", "POLÍTICA", "kilometro", "kilómetro recorrido"])
def test_spanish_matches_with_or_without_accents(retriever, query):
    hits = retriever.search(query, k=1, dense_weight=0)
    assert hits, query
    assert hits[0].source.endswith("politica.md")
    assert hits[0].lexical_score is not None and hits[0].dense_score is None


def test_hits_carry_source_page_heading_and_scores(retriever):
    hit = retriever.search("dieta diaria viajes nacionales", k=1)[0]
    assert hit.source.endswith("politica.md")
    assert hit.heading == "Política de gastos > Dietas"
    assert hit.page is None  # Markdown has no pages
    assert hit.title
    assert hit.score > 0 and hit.chunk_id > 0


def test_source_filter_keeps_only_matching_files(retriever):
    everywhere = {h.source.rsplit("/", 1)[-1] for h in retriever.search("the year", k=10)}
    assert len(everywhere) > 1
    only_md = retriever.search("the year", k=10, source="*.md")
    assert only_md and all(h.source.endswith(".md") for h in only_md)
    assert retriever.search("warranty", k=5, source="*.docx") == []
    by_name = retriever.search("warranty", k=5, source="faq*")
    assert by_name and all(h.source.endswith("faq.txt") for h in by_name)


def test_results_are_deterministic(retriever):
    runs = [[(h.chunk_id, h.score) for h in retriever.search("days", k=5)] for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]


def test_fused_score_mixes_cosine_and_relative_bm25(retriever):
    hits = retriever.search("laptops replaced every four years", k=3, dense_weight=0.3)
    top = hits[0]
    assert "Laptops" in top.text
    best_bm25 = max(h.lexical_score or 0 for h in hits)
    for hit in hits:
        expected = 0.3 * hit.dense_score + 0.7 * (hit.lexical_score or 0) / best_bm25
        assert hit.score == pytest.approx(expected)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_every_candidate_gets_both_scores(retriever):
    for hit in retriever.search("holiday laptops warranty", k=10, dense_weight=0.5):
        assert hit.dense_score is not None


def test_dense_weight_follows_the_embedders_languages(retriever):
    retriever.embedder.languages = ("en",)
    settings = retriever.settings
    assert retriever.weights_for("How many days?") == (
        DEFAULT_DENSE_WEIGHT,
        settings.sentence_weight,
    )
    assert retriever.weights_for("¿Cuántos días?")[0] == settings.dense_weight_other_language
    assert retriever.weights_for("política gastos")[0] == settings.dense_weight_other_language
    retriever.embedder.languages = None  # unknown: trusted for every language
    assert retriever.weights_for("¿Cuántos días?")[0] == DEFAULT_DENSE_WEIGHT


def test_dense_weight_is_the_one_measured_for_the_embedder_unless_set(retriever, monkeypatch):
    monkeypatch.setattr(retriever.embedder, "id", MULTILINGUAL_EMBEDDER_ID)
    measured = MEASURED_DENSE_WEIGHT[MULTILINGUAL_EMBEDDER_ID]
    assert measured != DEFAULT_DENSE_WEIGHT
    assert retriever.weights_for("¿Cuántos días?")[0] == measured
    retriever.settings = SearchSettings(dense_weight=0.4)
    assert retriever.weights_for("¿Cuántos días?")[0] == 0.4


def test_k_and_empty_query_are_validated(retriever):
    with pytest.raises(ConfigError, match="empty"):
        retriever.search("   ")
    with pytest.raises(ConfigError, match="k must be"):
        retriever.search("days", k=0)
    with pytest.raises(ConfigError, match="dense_weight"):
        retriever.search("days", dense_weight=2)


def test_query_syntax_in_questions_is_data(retriever):
    # FTS5 operators and quotes typed by a user must not raise or change the query.
    for query in ['what "is', "NEAR(holiday laptops)", "holiday AND OR NOT", "*", "a-b:c"]:
        retriever.search(query, k=3)


def test_fts_match_quotes_terms_and_drops_stopwords():
    assert fts_match("What is the warranty?") == '"warranti" OR "warranty"'
    assert fts_match("the") == '"the"'  # nothing but stopwords: keep them
    assert fts_match("?!") is None


def test_questions_and_passages_meet_on_stems_in_either_language():
    spanish = analyze("Las políticas de vacaciones", "es").split()
    english = analyze("The holiday policies", "en").split()
    assert set(query_terms("¿Cuál es la política de vacación?")) >= {"polit", "vacacion"}
    assert {"polit", "vacacion"} <= set(spanish)
    assert {"holiday", "polici"} <= set(query_terms("holiday policy")) & set(english)


def test_language_guess():
    assert guess_language("La política de gastos se revisa cada año y es para todos.") == "es"
    assert guess_language("The expense policy is reviewed every year for all of us.") == "en"


def test_a_chunk_committed_after_the_last_sync_is_scored_without_error(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        r.refresh()
        (docs / "late.txt").write_text("Late arrival: the zeppelin hangar.", encoding="utf-8")
        ingest_paths([docs], index_dir, embedder)
        r.refresh = lambda: None  # as if the commit landed between refresh and the query
        hits = r.search("zeppelin hangar", k=3, dense_weight=0.5)
    late = [h for h in hits if h.source.endswith("late.txt")]
    assert late and late[0].dense_score is None and late[0].lexical_score > 0


def test_highlight_spans_mark_question_words_in_any_form():
    from rag.text.lexical import highlight_spans

    text = "Las políticas de gastos: la Política aplica a todos."
    marked = [text[a:b] for a, b in highlight_spans(text, "¿Qué dice la politica?")]
    assert marked == ["políticas", "Política"]
    assert highlight_spans("anything", "the of") == []


def test_questions_use_the_query_form_only_where_the_embedder_has_one():
    from rag.text.embedding import HashEmbedder, embed_queries

    plain = HashEmbedder()
    assert np.array_equal(embed_queries(plain, ["a b"]), plain.embed(["a b"]))

    class Prefixed(HashEmbedder):
        def embed_queries(self, texts):
            return self.embed([f"query: {t}" for t in texts])

    prefixed = Prefixed()
    assert np.array_equal(embed_queries(prefixed, ["a b"]), prefixed.embed(["query: a b"]))
