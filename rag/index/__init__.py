"""The write path: find and fingerprint source files, chunk, embed and store them in an
index directory (SQLite + FTS5, FAISS, manifest), one writer at a time."""
