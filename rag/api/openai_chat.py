"""The OpenAI chat-completions shapes: a collection is a model (`rag:<collection>`, or
`rag` for all of them), the last user message is the question and the earlier turns its
history. The answer's sources ride along twice: as numbered lines appended to the text
(what any chat front end shows) and as the whole Answer in an extra field, `rag`.

The client's system messages are not passed to the model: the product's own prompt
decides how answers are grounded, and a request cannot talk it out of citing.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, Field

from rag.answering.answers import Answer
from rag.answering.second_look import withdrawal_note
from rag.index.store import DEFAULT_COLLECTION

MODEL_PREFIX = "rag:"
ALL_COLLECTIONS_MODEL = "rag"
MAX_MESSAGE_CHARS = 20_000


class ContentPart(BaseModel):
    type: str
    text: str = ""


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)


def model_ids(collections: list[str]) -> list[str]:
    return [ALL_COLLECTIONS_MODEL, *(MODEL_PREFIX + name for name in collections)]


def collection_of(model: str) -> str | None:
    """The collection a model id names (None: all); ValueError for a foreign id."""
    if model == ALL_COLLECTIONS_MODEL:
        return None
    if model.startswith(MODEL_PREFIX) and len(model) > len(MODEL_PREFIX):
        return model[len(MODEL_PREFIX) :]
    raise ValueError(model)


def question_and_history(request: ChatRequest) -> tuple[str, list[dict[str, str]]]:
    """The last user message, and the user/assistant turns before it."""
    turns = [m for m in request.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user" or not turns[-1].text().strip():
        raise ValueError("the last message must be the user's question, as text")
    for message in turns:
        if len(message.text()) > MAX_MESSAGE_CHARS:
            raise ValueError(f"a message is over {MAX_MESSAGE_CHARS} characters")
    history = [{"role": m.role, "content": m.text()} for m in turns[:-1]]
    return turns[-1].text().strip(), history


def withdrawal_block(answer: Answer) -> str:
    """For a streamed answer the claim check replaced: why, and the checked answer ("" when
    the streamed text stands)."""
    return withdrawal_note(answer.revision, answer.text) if answer.revision else ""


def sources_block(answer: Answer) -> str:
    """'Sources:\\n[1] handbook.pdf, page 2' for the sources the answer cites (or, when it
    cites none and was not declined, every source it read)."""
    shown = answer.cited_sources or (() if answer.declined else answer.sources)
    if not shown:
        return ""
    lines = []
    for source in shown:
        where = source.label
        if source.collection and source.collection != DEFAULT_COLLECTION:
            where += f" ({source.collection})"
        lines.append(f"[{source.number}] {where}")
    return "\n\nSources:\n" + "\n".join(lines)


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def completion(model: str, answer: Answer) -> dict:
    timings = answer.timings
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text + sources_block(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": timings.prompt_tokens,
            "completion_tokens": timings.tokens,
            "total_tokens": timings.prompt_tokens + timings.tokens,
        },
        "rag": answer.as_dict(),
    }


def chunk(cid: str, model: str, delta: dict, finish: str | None = None, **extra) -> dict:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
