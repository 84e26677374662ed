"""Any OpenAI-compatible chat server: llama.cpp's server, vLLM, Ollama, a hosted API."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from rag.config import GeneratorSettings
from rag.llm.base import GeneratorError, Message

# A remote server has no tokenizer endpoint in the OpenAI API, so prompt sizes are
# estimated. Three characters per token over-counts English and Spanish prose for the
# common tokenizers (about four per token), so a packed prompt always fits.
CHARS_PER_TOKEN = 3


class OpenAICompatibleGenerator:
    """Streams chat completions from `settings.url` (for example http://host:8000/v1)."""

    def __init__(self, settings: GeneratorSettings):
        if not settings.url:
            raise GeneratorError("no model server URL: set RAG_LLM_URL, e.g. http://host:8000/v1")
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self.model = settings.remote_model
        self.context_size = settings.context_size
        self.id = f"{self.model} at {self.url}"
        self._client = None

    def warm_up(self):
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                base_url=self.url,
                # Local servers take any key; the client library insists on one.
                api_key=self.settings.api_key or "not-needed",
                # `timeout` bounds each wait for the server (connecting, and every gap
                # between streamed pieces), so a dead or stuck server is an error, not a hang.
                timeout=openai.Timeout(
                    self.settings.timeout, connect=min(self.settings.timeout, 10)
                ),
                max_retries=0,
            )
        return self._client

    def render(self, messages: Sequence[Message]) -> str:
        """The messages as sent; the server applies its model's chat template."""
        return json.dumps(list(messages), ensure_ascii=False)

    def count_tokens(self, text: str) -> int:
        return -(-len(text) // CHARS_PER_TOKEN)

    def stream(
        self, messages: Sequence[Message], *, temperature: float, max_tokens: int
    ) -> Iterator[str]:
        import openai

        client = self.warm_up()
        try:
            response = client.chat.completions.create(
                model=self.model,
                messages=list(messages),
                temperature=temperature,
                max_tokens=max_tokens,
                stream=True,
            )
            with response:
                for event in response:
                    if event.choices:
                        text = event.choices[0].delta.content
                        if text:
                            yield text
        except openai.APITimeoutError:
            raise GeneratorError(
                f"the model server at {self.url} did not answer within "
                f"{self.settings.timeout:g} s: check that it is running and not overloaded, or "
                "raise RAG_LLM_TIMEOUT"
            ) from None
        except openai.APIConnectionError as exc:
            raise GeneratorError(
                f"cannot reach the model server at {self.url} ({exc.__cause__ or exc}): start "
                "it, or fix RAG_LLM_URL"
            ) from None
        except openai.APIStatusError as exc:
            raise GeneratorError(
                f"the model server at {self.url} refused the request (HTTP {exc.status_code}): "
                f"{_detail(exc)}; check RAG_LLM_REMOTE_MODEL and RAG_LLM_API_KEY"
            ) from None


def _detail(exc) -> str:
    try:
        return str(exc.response.json().get("error", {}).get("message") or exc.message)[:300]
    except Exception:  # not JSON: the status says enough
        return str(exc.message)[:300]
