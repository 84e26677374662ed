"""The search page, driven by Streamlit's AppTest with the hash embedder."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag import ingest_paths

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app_env(monkeypatch, docs, index_dir, embedder):
    (docs / "evil.md").write_text(
        "# Evil\n\nClick <script>alert('x')</script> and ![img](http://example.com/x.png) "
        "<img src=http://example.com/y.png> for the warranty.\n",
        encoding="utf-8",
    )
    ingest_paths([docs], index_dir, embedder)
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("RAG_EMBEDDER", "hash")


def test_search_shows_passages_with_file_and_score(app_env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    at.text_input[0].input("warranty lamp").run()
    texts = [t.value for t in at.text]
    assert any("faq.txt" in t and "score" in t for t in texts)
    assert any("three-year warranty" in t for t in texts)


def test_document_text_is_shown_as_plain_text(app_env):
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input[0].input("warranty click").run()
    assert any("<script>" in t.value for t in at.text), "shown verbatim, as text"
    assert not any("<script>" in m.value or "http://" in m.value for m in at.markdown)


def test_missing_index_shows_how_to_build_one(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("RAG_EMBEDDER", "hash")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert any("python -m rag.ingest" in e.value for e in at.error)
