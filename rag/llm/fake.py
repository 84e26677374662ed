"""A generator that needs no model: it repeats what it was asked, for tests and dry runs."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from rag.llm.base import Message


class EchoGenerator:
    """Replies with a fixed text, or "Echo: <last user message>" cut to `max_tokens` words.

    Tokens are words here, which keeps budgets easy to reason about in tests. Every call
    is recorded in `calls`.
    """

    id = "echo"

    def __init__(self, reply: str | None = None, context_size: int = 2048):
        self.reply = reply
        self.context_size = context_size
        self.calls: list[list[Message]] = []

    def render(self, messages: Sequence[Message]) -> str:
        return "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages)

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\S+", text))

    def stream(
        self, messages: Sequence[Message], *, temperature: float, max_tokens: int
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        text = self.reply if self.reply is not None else "Echo: " + messages[-1]["content"]
        for i, word in enumerate(re.findall(r"\S+\s*", text)):
            if i == max_tokens:
                return
            yield word
