"""`python -m rag.users`: people, roles, grants and the audit trail (see rag.cli.users)."""

from rag.cli.common import run
from rag.cli.users import main

if __name__ == "__main__":
    run(main)
