"""The HTTP server (`python -m rag.serve`): a REST API over collections, documents, search
and answers, and an OpenAI-compatible chat API where each collection is a model."""
