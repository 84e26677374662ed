"""`python -m rag.llm.serve [llama_cpp.server options]`: llama.cpp's OpenAI-compatible
server, started safely for these CPUs.

It is llama-cpp-python's own server (`pip install 'llama-cpp-python[server]'`) with weight
repacking off (see `without_weight_repacking`) and the bundled SmolLM2 as the default
model, so `RAG_LLM_URL=http://127.0.0.1:8000/v1` works on any machine this runs on.
"""

from __future__ import annotations

import runpy
import sys

from rag.llm.llama import bundled_model_path, without_weight_repacking


def main(argv: list[str]) -> None:
    if "--model" not in argv:
        argv = ["--model", str(bundled_model_path()), *argv]
    sys.argv = ["llama_cpp.server", *argv]
    with without_weight_repacking():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
