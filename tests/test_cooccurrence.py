"""The best-sentence feature, alone and inside search."""

import pytest

from rag import Retriever, ingest_paths
from rag.config import SearchSettings
from rag.text.cooccurrence import best_sentence_share, idf, word_weights
from rag.text.lexical import query_word_stems


def test_share_is_the_best_single_sentence():
    stems = query_word_stems("¿Qué río cruza la ciudad?")
    weights = [1.0] * len(stems)
    together = "El puerto es antiguo. El río Turia cruza la ciudad de este a oeste."
    apart = "El río es largo. La ciudad es grande. Algo cruza el valle."
    assert best_sentence_share(together, stems, weights) == pytest.approx(1.0)
    assert best_sentence_share(apart, stems, weights) == pytest.approx(1 / 3)
    assert best_sentence_share("", stems, weights) == 0.0
    assert best_sentence_share(together, [], []) == 0.0


def test_rare_words_weigh_more():
    stems = query_word_stems("ciudad Turia")
    weights = word_weights(stems, passages=100, frequencies={"ciud": 90, "turi": 1})
    assert weights[1] > weights[0] > 0
    assert idf(100, 100) > 0  # a word in every passage still counts a little


def _write_docs(folder):
    folder.mkdir()
    # Both mention every word of the question; only one says it in one sentence.
    (folder / "a_scattered.txt").write_text(
        "La ciudad tiene un puerto antiguo y un mercado central. "
        "Muchos visitantes llegan en verano. El río nace en las montañas del interior. "
        "Un puente medieval cruza el cauce seco y hoy es un jardín.",
        encoding="utf-8",
    )
    (folder / "b_together.txt").write_text(
        "El barrio fue reformado hace años y sus calles son estrechas. "
        "El río cruza la ciudad de oeste a este antes de llegar al mar. "
        "Las fiestas de marzo atraen a miles de personas cada año.",
        encoding="utf-8",
    )
    for n in range(6):  # background, so the question's words are not in every passage
        (folder / f"other_{n}.txt").write_text(
            f"Informe {n}: ventas, personal y clientes del trimestre.", encoding="utf-8"
        )


def test_spanish_questions_prefer_the_passage_that_answers_in_one_sentence(
    tmp_path, index_dir, embedder
):
    docs = tmp_path / "docs"
    _write_docs(docs)
    ingest_paths([docs], index_dir, embedder)
    question = "¿Qué río cruza la ciudad?"
    with Retriever.open(index_dir, embedder) as retriever:
        retriever.embedder.languages = ("en",)  # Spanish is "another language" here
        hits = retriever.search(question, k=2)
        assert hits[0].source.endswith("b_together.txt")
        assert hits[0].score > hits[1].score
    off = SearchSettings(sentence_weight_other_language=0.0)
    with Retriever.open(index_dir, embedder, settings=off) as retriever:
        retriever.embedder.languages = ("en",)
        plain = retriever.search(question, k=2)
    with_sentence = {h.chunk_id: h.score for h in hits}
    for hit in plain:  # the feature only ever adds to the fused score
        assert with_sentence[hit.chunk_id] >= hit.score
