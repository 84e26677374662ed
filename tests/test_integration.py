"""With the real bundled embedding model: load it offline, ingest the sample documents, and
find answers in English and Spanish, down to the file and page."""

from pathlib import Path

import pytest

import rag.text.embedding as embedding
from rag import Retriever, ingest_paths
from rag.errors import ModelNotFoundError
from rag.text.embedding import SentenceTransformerEmbedder

pytestmark = pytest.mark.integration

SAMPLE_DOCS = Path(__file__).resolve().parents[1] / "sample_docs"


@pytest.fixture(scope="module")
def real_embedder():
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def sample_index(tmp_path_factory, real_embedder):
    index_dir = tmp_path_factory.mktemp("sample") / "index"
    report = ingest_paths([SAMPLE_DOCS], index_dir, real_embedder)
    assert report.failed == [], report.failed
    return index_dir, report


def test_the_bundled_model_embeds_offline(real_embedder):
    vectors = real_embedder.embed(["Laptops are replaced every four years.", "hello"])
    assert vectors.shape == (2, 384)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-5
    near = real_embedder.embed(["How often do we get a new laptop?"])[0]
    far = real_embedder.embed(["The canteen serves paella on Thursdays."])[0]
    assert vectors[0] @ near > vectors[0] @ far


def test_every_sample_document_is_ingested(sample_index):
    index_dir, report = sample_index
    names = {Path(p).name for p in report.added}
    assert names == {p.name for p in SAMPLE_DOCS.iterdir() if not p.name.startswith(".")}
    assert report.pages >= 12  # the two PDFs
    with Retriever.open(index_dir) as r:
        stats = r.store.stats()
        mean_chars = r.store._conn.execute("SELECT avg(length(text)) FROM chunks").fetchone()[0]
    assert stats["chunks"] == report.chunks
    assert mean_chars <= 1000


@pytest.mark.parametrize(
    ("question", "file", "page", "needle"),
    [
        ("What is the minimum password length?", "it_security_policy.pdf", 2, "14"),
        ("second factor for the firmware signing service", "it_security_policy.pdf", 3, "FIDO2"),
        ("¿Cuánto se paga por kilómetro con vehículo propio?", "politica_de_gastos.pdf", 3, "0,26"),
        (
            "¿En qué plazo hay que liquidar los gastos de un viaje?",
            "politica_de_gastos.pdf",
            4,
            "30 días",
        ),
        (
            "How many days a week can hybrid employees work remotely?",
            "employee_handbook.md",
            None,
            "3 days",
        ),
        ("¿Cuál es el horario de la jornada intensiva de verano?", None, None, "15:00"),
    ],
)
def test_questions_find_their_passage(sample_index, question, file, page, needle):
    index_dir, _ = sample_index
    with Retriever.open(index_dir) as r:
        hits = r.search(question, k=3)
    match = [h for h in hits if needle in h.text and (file is None or h.source.endswith(file))]
    assert match, [(h.source, h.page, h.text[:80]) for h in hits]
    if page is not None:
        assert match[0].page == page


def test_politica_without_accent_finds_the_spanish_policy(sample_index):
    index_dir, _ = sample_index
    with Retriever.open(index_dir) as r:
        hits = r.search("politica desconexion digital", k=3, dense_weight=0)
    assert hits and hits[0].source.endswith("manual_del_empleado.md")
    assert "desconexión" in hits[0].text.lower()


def test_a_model_that_is_not_on_disk_is_a_clear_error(tmp_path):
    missing = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotFoundError, match="RAG_EMBEDDER"):
        missing.embed(["x"])


def test_a_damaged_bundled_model_is_refused(monkeypatch):
    monkeypatch.setattr(embedding, "BUNDLED_SHA256", "0" * 64)
    with pytest.raises(ModelNotFoundError, match="sha256"):
        SentenceTransformerEmbedder().embed(["x"])
