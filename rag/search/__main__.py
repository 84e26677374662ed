"""`python -m rag.search`: print the best passages for a query (see rag.cli.search).

`rag.search` is the read-path package, so its command line starts here rather than in a
`rag/search.py` module, which the package would shadow.
"""

from rag.cli.common import run
from rag.cli.search import main

if __name__ == "__main__":
    run(main)
