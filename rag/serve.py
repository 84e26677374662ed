"""`python -m rag.serve`: the HTTP API (see rag.cli.serve)."""

from rag.cli.common import run
from rag.cli.serve import main

if __name__ == "__main__":
    run(main)
