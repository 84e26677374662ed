"""Settings with their defaults, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError

DEFAULT_INDEX_DIR = ".rag_index"
BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"


def default_index_dir() -> Path:
    """`RAG_INDEX_DIR` if set, else `.rag_index` in the current directory."""
    return Path(os.environ.get("RAG_INDEX_DIR") or DEFAULT_INDEX_DIR)


def default_embedder_spec() -> str:
    """`RAG_EMBEDDER` if set (a sentence-transformers name or path, or `hash` for tests)."""
    return os.environ.get("RAG_EMBEDDER") or BUNDLED_EMBEDDER


@dataclass(frozen=True)
class ChunkerSettings:
    """How documents are cut into passages. Saved in the index manifest.

    Sizes are in the embedder's own tokens. `max_tokens` is what the embedder reads of one
    passage: all-MiniLM-L6-v2 reads 256, two of them its own markers. The title and
    heading embedded with each passage come out of that budget.
    """

    max_tokens: int = 254
    overlap_tokens: int = 40

    def __post_init__(self) -> None:
        if self.max_tokens < 16:
            raise ConfigError(f"chunk max_tokens must be at least 16, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens // 2:
            raise ConfigError(
                f"chunk overlap_tokens must be between 0 and max_tokens/2 "
                f"({self.max_tokens // 2}), got {self.overlap_tokens}"
            )

    def as_dict(self) -> dict[str, int]:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens}


@dataclass(frozen=True)
class SearchSettings:
    """Hybrid search knobs. Reciprocal rank fusion of a dense and a lexical list."""

    candidates: int = 50  # how deep each list is read before fusion
    rrf_k: int = 60  # the usual RRF constant: damps the difference between top ranks
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
