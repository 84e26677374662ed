"""manifest.json: what an index was built with, so it is never read with something else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rag.config import ChunkerSettings, configured_embedder_spec, default_embedder_spec
from rag.errors import IndexMismatchError, IndexNotFoundError
from rag.files import atomic_path
from rag.index.layout import data_dir
from rag.text.embedding import spec_for_embedder_id

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    embedder_id: str
    dimension: int
    chunker: ChunkerSettings
    normalized: bool = True
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "embedder": {
                "id": self.embedder_id,
                "dimension": self.dimension,
                "normalized": self.normalized,
            },
            "chunker": self.chunker.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        return cls(
            embedder_id=data["embedder"]["id"],
            dimension=int(data["embedder"]["dimension"]),
            normalized=bool(data["embedder"].get("normalized", True)),
            chunker=ChunkerSettings(**data["chunker"]),
            schema_version=int(data["schema_version"]),
        )

    def check_compatible(self, other: Manifest, index_dir: Path) -> None:
        """Raise IndexMismatchError unless `other` describes the same embedder and chunker."""
        if self.schema_version != other.schema_version:
            raise IndexMismatchError(
                f"index {index_dir} has schema version {self.schema_version}, this version "
                f"reads {other.schema_version}: re-ingest into a new --index directory"
            )
        if (self.embedder_id, self.dimension) != (other.embedder_id, other.dimension):
            raise IndexMismatchError(
                f"index {index_dir} was built with embedder {self.embedder_id!r} "
                f"({self.dimension} dimensions) but {other.embedder_id!r} ({other.dimension}) "
                f"is in use: set RAG_EMBEDDER={self.embedder_id!r} or use another --index "
                "directory"
            )
        if self.chunker != other.chunker:
            raise IndexMismatchError(
                f"index {index_dir} was chunked with {self.chunker.as_dict()} but "
                f"{other.chunker.as_dict()} is in use: keep the index's settings or use another "
                "--index directory"
            )


def read_manifest(index_dir: Path) -> Manifest:
    path = index_dir / MANIFEST_NAME
    if not path.is_file():
        raise IndexNotFoundError(
            f"no index at {index_dir} (no {MANIFEST_NAME}): build one with "
            f"'python -m rag.ingest PATH --index {index_dir}'"
        )
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexMismatchError(
            f"{path} is not a valid index manifest ({exc}): rebuild the index in a new directory"
        ) from exc


def write_manifest(index_dir: Path, manifest: Manifest) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(index_dir / MANIFEST_NAME) as tmp:
        Path(tmp).write_text(json.dumps(manifest.as_dict(), indent=2), encoding="utf-8")


def embedder_spec_for_index(index_dir: Path | str) -> str:
    """The embedder to open an index with: `RAG_EMBEDDER` when set; else the one the
    index was built with, so an index made before the default changed keeps working
    until it is rebuilt; else (no index yet) the default."""
    configured = configured_embedder_spec()
    if configured:
        return configured
    try:
        manifest = read_manifest(data_dir(index_dir))
    except (IndexNotFoundError, IndexMismatchError):
        return default_embedder_spec()
    return spec_for_embedder_id(manifest.embedder_id)
