"""The read path: hybrid search over an index directory, and its retrieval benchmark."""
