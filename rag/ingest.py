"""`python -m rag.ingest`: bring an index up to date with some folders (see rag.cli.ingest)."""

from rag.cli.common import run
from rag.cli.ingest import main

if __name__ == "__main__":
    run(main)
