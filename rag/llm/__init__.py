"""Text generators: one small protocol, a llama.cpp model in process, and any
OpenAI-compatible chat server.

Both stream: `stream(messages)` yields pieces of text as the model produces them.
"""

from rag.llm.base import Generator, GeneratorError, Message, count_prompt_tokens
from rag.llm.factory import make_generator

__all__ = ["Generator", "GeneratorError", "Message", "count_prompt_tokens", "make_generator"]
