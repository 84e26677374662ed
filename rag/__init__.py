"""Local, private retrieval over company documents.

from rag import Retriever
hits = Retriever.open(".rag_index").search("How many vacation days?", k=5)
"""

from rag.errors import RagError
from rag.indexing import IndexWriter, IngestReport, ingest_paths
from rag.retriever import Retriever
from rag.types import Hit

__all__ = ["Hit", "IndexWriter", "IngestReport", "RagError", "Retriever", "ingest_paths"]
