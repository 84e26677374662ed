"""`python -m rag.collections`: list, create, rename and delete collections (see
rag.cli.collections)."""

from rag.cli.collections import main
from rag.cli.common import run

if __name__ == "__main__":
    run(main)
