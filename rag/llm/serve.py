"""`python -m rag.llm.serve [llama_cpp.server options]`: llama.cpp's OpenAI-compatible
server, started safely for these CPUs.

It is llama-cpp-python's own server (`pip install 'llama-cpp-python[server]'`) with weight
repacking off (see `without_weight_repacking`) and the bundled default answer model
(Qwen2.5-Coder-1.5B) unless `--model` says otherwise, so `RAG_LLM_URL=http://127.0.0.1:8000/v1`
works on any machine this runs on. `--model` also takes a bundled model's name or short
alias (`qwen`, `smollm2`).
"""

from __future__ import annotations

import runpy
import sys

from rag.config import BUNDLED_GENERATOR
from rag.llm.bundled import bundled_model_path, is_bundled
from rag.llm.llama import without_weight_repacking


def with_model_file(argv: list[str]) -> list[str]:
    """`argv` with `--model` naming a GGUF file: the default bundled model when absent,
    a bundled model's file in place of its name."""
    if "--model" not in argv:
        return ["--model", str(bundled_model_path(BUNDLED_GENERATOR)), *argv]
    at = argv.index("--model") + 1
    if at < len(argv) and is_bundled(argv[at]):
        return [*argv[:at], str(bundled_model_path(argv[at])), *argv[at + 1 :]]
    return argv


def main(argv: list[str]) -> None:
    sys.argv = ["llama_cpp.server", *with_model_file(argv)]
    with without_weight_repacking():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
