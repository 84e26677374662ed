"""Local, private retrieval and cited answers over company documents.

from rag import Retriever, answer
hits = Retriever.open(".rag_index").search("How many vacation days?", k=5)
reply = answer("How many vacation days?")  # reply.text, reply.citations, reply.sources
"""

from rag.answering.answers import Answer, Source
from rag.answering.assistant import AnswerSettings, AnswerStream, Assistant, answer, answer_stream
from rag.errors import RagError
from rag.index.writer import IndexWriter, IngestReport, ingest_paths
from rag.search.retriever import Retriever
from rag.types import Access, Hit

__all__ = [
    "Access",
    "Answer",
    "AnswerSettings",
    "AnswerStream",
    "Assistant",
    "Hit",
    "IndexWriter",
    "IngestReport",
    "RagError",
    "Retriever",
    "Source",
    "answer",
    "answer_stream",
    "ingest_paths",
]
