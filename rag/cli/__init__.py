"""The command lines (`python -m rag.ingest | rag.search | rag.ask | rag.eval`) and what
they share."""
