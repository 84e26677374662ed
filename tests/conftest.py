"""Shared fixtures. Most tests use the hash embedder: no model weights, milliseconds."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from rag.text.embedding import HashEmbedder

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"

# Tests never reach for a model hub, even by accident.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A small mixed-language corpus of Markdown and text files."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "handbook.md").write_text(
        "# Handbook\n\n## Holidays\n\nEvery employee has 23 days of paid holiday per year. "
        "Unused days expire on 31 March.\n\n## Laptops\n\nLaptops are replaced every four "
        "years by the IT desk.\n",
        encoding="utf-8",
    )
    (folder / "politica.md").write_text(
        "# Política de gastos\n\n## Dietas\n\nLa dieta diaria para viajes nacionales es de "
        "45 euros. La política se revisa cada año.\n\n## Kilometraje\n\nSe pagan 0,26 euros "
        "por kilómetro recorrido con vehículo propio.\n",
        encoding="utf-8",
    )
    (folder / "faq.txt").write_text(
        "Q: How long is the warranty?\nA: Every lamp has a three-year warranty.\n\n"
        "Q: Which protocols are supported?\nA: Zigbee and Matter over Thread.\n",
        encoding="utf-8",
    )
    return folder


def versioned_text(doc: int, version: int) -> str:
    """Six paragraphs (two chunks of the hash embedder's tokens), each naming its document
    and version, so a reader can tell which version of which file a passage came from."""
    paragraphs = [
        f"Document {doc} revision {version} paragraph {p} zulu. "
        + " ".join(f"w{doc}r{version}p{p}t{k}" for k in range(36))
        + "."
        for p in range(6)
    ]
    return "\n\n".join(paragraphs) + "\n"


def python_child(code: str) -> list[str]:
    """argv for a child Python running `code` with this interpreter and the repo on its path."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO)!r})\n{code}"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
