"""`python -m rag.ask`: answer from the documents (see rag.cli.ask)."""

from rag.cli.ask import main
from rag.cli.common import run

if __name__ == "__main__":
    run(main)
