"""The Streamlit app: search the documents in the index.

UI only: every search goes through `rag.Retriever`. Document text is untrusted, so it is
shown with `st.text` / `st.code`-style plain rendering, never as Markdown or HTML.
"""

from __future__ import annotations

import streamlit as st

from rag import RagError, Retriever
from rag.cli import display_path
from rag.config import default_index_dir

st.set_page_config(page_title="Brisalux documents", page_icon="🔎", layout="wide")


@st.cache_resource
def open_retriever(index_dir: str) -> Retriever:
    """One retriever (and so one embedding model) shared by every browser session."""
    retriever = Retriever.open(index_dir)
    retriever.embedder.embed(["warm up"])  # load the model before the first question
    return retriever


index_dir = str(default_index_dir())
st.title("Search your documents")

try:
    retriever = open_retriever(index_dir)
except RagError as exc:
    st.error(str(exc))
    st.stop()

stats = retriever.store.stats()
with st.sidebar:
    st.subheader("Index")
    st.text(f"{index_dir}\n{stats['documents']} documents, {stats['chunks']} passages")
    if stats["failed"]:
        st.warning(f"{stats['failed']} documents could not be read: see `python -m rag.ingest`")
    k = st.slider("Passages", 1, 20, 5)
    source = st.text_input("Only files matching", placeholder="*.pdf") or None

query = st.text_input("Question or keywords", placeholder="How many holiday days do I get?")
if query.strip():
    try:
        hits = retriever.search(query, k=k, source=source)
    except RagError as exc:
        st.error(str(exc))
        hits = []
    if not hits:
        st.info("No passage matches. Try other words, or ingest more documents.")
    for n, hit in enumerate(hits, start=1):
        where = display_path(hit.source) + (f", page {hit.page}" if hit.page else "")
        with st.container(border=True):
            st.text(f"[{n}] {where}  ·  score {hit.score:.4f}")
            if hit.heading:
                st.text(hit.heading)
            st.text(hit.text)
