"""The configured generator."""

from __future__ import annotations

from rag.config import GeneratorSettings
from rag.llm.base import Generator


def make_generator(settings: GeneratorSettings | None = None) -> Generator:
    """A remote server if `url` is set, else llama.cpp in process; `model="echo"` gives the
    test fake. Nothing loads until the first use."""
    settings = settings or GeneratorSettings.from_env()
    if settings.url:
        from rag.llm.remote import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(settings)
    if settings.model == "echo":
        from rag.llm.fake import EchoGenerator

        return EchoGenerator(context_size=settings.context_size)
    from rag.llm.llama import LlamaCppGenerator

    return LlamaCppGenerator(settings)
