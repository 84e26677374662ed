"""`python -m rag.eval`: retrieval or answer quality on a labelled set (see rag.cli.eval)."""

from rag.cli.common import run
from rag.cli.eval import main

if __name__ == "__main__":
    run(main)
