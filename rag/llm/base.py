"""The generator protocol shared by every implementation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypedDict, runtime_checkable

from rag.errors import RagError


class GeneratorError(RagError):
    """The model could not be loaded or reached, or failed while answering."""


class Message(TypedDict):
    role: str  # "system", "user" or "assistant"
    content: str


@runtime_checkable
class Generator(Protocol):
    """A chat model that streams its reply.

    `context_size` is the model's window in its own tokens; `count_tokens` measures text
    with the model's own tokenizer (or a safe estimate where the model is remote), and
    `render` shows the prompt the model will read for a list of messages.
    """

    id: str
    context_size: int

    def stream(
        self, messages: Sequence[Message], *, temperature: float, max_tokens: int
    ) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...

    def render(self, messages: Sequence[Message]) -> str: ...


def count_prompt_tokens(generator: Generator, messages: Sequence[Message]) -> int:
    """How many tokens the model reads for these messages, chat template included."""
    return generator.count_tokens(generator.render(messages))
