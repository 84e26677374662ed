"""llama.cpp in this process, through llama-cpp-python, on a GGUF file."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rag.config import GeneratorSettings
from rag.errors import ModelNotFoundError
from rag.llm.base import GeneratorError, Message
from rag.llm.bundled import bundled_model_path, display_name, is_bundled

# Loading patches a llama-cpp-python module attribute for a moment (see _load_llama).
_LOAD_LOCK = threading.Lock()
# Model files whose native self-test passed in this process.
_PROVEN: set[tuple[str, int]] = set()


def resolve_model_path(spec: str) -> Path:
    """The GGUF file for `spec`: a bundled model (checked, and for Qwen joined from its
    parts on first use; see rag.llm.bundled) or a local path."""
    if is_bundled(spec):
        return bundled_model_path(spec)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"answer model {spec!r} is not a file: set RAG_LLM_MODEL to a .gguf file, or unset "
            "it for the bundled Qwen2.5-Coder-1.5B (`smollm2` for the small, fast one)"
        )
    return path


@contextmanager
def without_weight_repacking() -> Iterator[None]:
    """Models loaded inside this block keep llama.cpp's weight repacking ("extra buffer
    types") off.

    llama-cpp-python 0.3.36 built natively on a CPU with AMX crashes in its AMX matrix
    code at the first decode; without repacking that code is never used. Measured here,
    SmolLM2 runs as fast without it. The library has no argument for the setting, so its
    default-parameters function is wrapped for the duration.
    """
    from llama_cpp import llama_cpp as native

    with _LOAD_LOCK:
        original = native.llama_model_default_params

        def without_repacking():
            params = original()
            params.use_extra_bufts = False
            return params

        native.llama_model_default_params = without_repacking
        try:
            yield
        finally:
            native.llama_model_default_params = original


def _load_llama(path: Path, context_size: int, threads: int):
    import llama_cpp

    with without_weight_repacking():
        try:
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=context_size,
                n_threads=threads,
                n_threads_batch=threads,
                seed=0,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelNotFoundError(f"cannot load answer model {path}: {exc}") from exc


# Run in a child process: load the model and generate a few tokens.
_SELF_TEST = """
import sys
from pathlib import Path
from rag.llm.llama import _load_llama
llm = _load_llama(Path(sys.argv[1]), 512, int(sys.argv[2]))
llm.create_completion("The sky is", max_tokens=3, temperature=0.0)
"""


def self_test(path: Path, threads: int, timeout: float = 300.0) -> None:
    """Prove in a child process that this llama.cpp build generates on this CPU.

    A native crash (a bad build for the CPU) would otherwise kill the app or CLI that
    loaded the model; in a child it becomes an error message.
    """
    key = (str(path), threads)
    if key in _PROVEN:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _SELF_TEST, str(path), str(threads)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise GeneratorError(
            f"the answer model {path} did not generate 3 tokens within {timeout:.0f} s in a "
            "test run: the machine is overloaded or the model is too large for it"
        ) from None
    if done.returncode < 0:
        raise GeneratorError(
            f"llama.cpp crashed (signal {-done.returncode}) generating with {path}: this build "
            "of llama-cpp-python does not run on this CPU; reinstall it built for this machine, "
            "e.g. CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON' "
            "pip install --force-reinstall --no-cache-dir llama-cpp-python"
        )
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise GeneratorError(f"the answer model {path} failed its test run: {detail}")
    _PROVEN.add(key)


class LlamaCppGenerator:
    """A GGUF chat model in this process. Loads on first use; one reply at a time."""

    def __init__(self, settings: GeneratorSettings | None = None):
        self.settings = settings or GeneratorSettings()
        self.context_size = self.settings.context_size
        self.threads = self.settings.thread_count
        self.id = display_name(self.settings.model)
        self.model_path: Path | None = None
        self._llm = None
        self._formatter = None
        self._load_lock = threading.Lock()
        # llama.cpp's context is not re-entrant: concurrent callers wait their turn.
        self._generate_lock = threading.Lock()
        # Model state after each system prompt seen, and those prompts' tokens.
        self._prefix_states: dict[tuple[int, ...], object] = {}
        self._prefix_tokens: dict[str, list[int]] = {}

    def warm_up(self):
        with self._load_lock:
            if self._llm is None:
                path = resolve_model_path(self.settings.model)
                self_test(path, self.threads)
                self._llm = _load_llama(path, self.context_size, self.threads)
                self._formatter = _chat_formatter(self._llm, path)
                self.model_path = path
        return self._llm

    def render(self, messages: Sequence[Message]) -> str:
        """The exact prompt text the model reads, from the model's own chat template."""
        self.warm_up()
        return self._formatter(messages=list(messages)).prompt

    @property
    def model(self) -> str:
        """The spec this generator was made with: a bundled model's name, or a path."""
        return self.settings.model

    def count_tokens(self, text: str) -> int:
        llm = self.warm_up()
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self, messages: Sequence[Message], *, temperature: float, max_tokens: int
    ) -> Iterator[str]:
        llm = self.warm_up()
        tokens, stop = self._prompt_tokens(messages)
        if len(tokens) + max_tokens > self.context_size:
            raise GeneratorError(
                f"the prompt ({len(tokens)} tokens) and answer ({max_tokens}) exceed the "
                f"model's context of {self.context_size} tokens"
            )
        with self._generate_lock:
            self._restore_prefix(llm, messages, tokens)
            # The prompt is rendered here with the model's template and passed as tokens,
            # so what was counted is exactly what is read.
            pieces = llm.create_completion(
                tokens,
                max_tokens=max_tokens,
                temperature=temperature,
                seed=0,
                # Small models loop ("the 20th of the month is ... the 20th of ..."); a
                # mild penalty on repeated tokens stops that without bending facts.
                repeat_penalty=1.2,
                stream=True,
                stop=stop,
            )
            for piece in pieces:
                text = piece["choices"][0]["text"]
                if text:
                    yield text

    def first_token_probability(self, messages: Sequence[Message], text: str) -> float:
        """The probability that the reply to `messages` starts with `text`'s first token.

        The model's own inclination to decline ("I cannot find…") is a far better signal
        than whether its greedy reply happens to decline: on-topic sources that do not
        answer leave it torn, and the answer comes out anyway. The prompt is read here
        (from the cached system prompt on), so the generation that follows reads only
        its last token again.
        """
        return self.first_token_probabilities(messages, [text])[0]

    def first_token_probabilities(self, messages: Sequence[Message], texts: Sequence[str]):
        """For each of `texts`, the probability that the reply to `messages` starts with
        its first token: one reading of the prompt answers for all of them (0.0 for an
        empty text)."""
        import numpy as np

        llm = self.warm_up()
        tokens, _ = self._prompt_tokens(messages)
        wanted = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in texts]
        if not any(wanted):
            return [0.0] * len(texts)
        with self._generate_lock:
            self._restore_prefix(llm, messages, tokens)
            shared = 0
            evaluated = llm._input_ids[: llm.n_tokens]
            for a, b in zip(evaluated, tokens[:-1], strict=False):
                if a != b:
                    break
                shared += 1
            llm.n_tokens = shared
            llm.eval(tokens[shared:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(llm.n_vocab(),))
            logits = logits.astype(np.float64)
            logits -= logits.max()
            weights = np.exp(logits)
            total = weights.sum()
            return [float(weights[ids[0]] / total) if ids else 0.0 for ids in wanted]

    def _prompt_tokens(self, messages: Sequence[Message]) -> tuple[list[int], object]:
        """The prompt the model reads, as tokens of its own chat template, and the
        template's stop sequences."""
        formatted = self._formatter(messages=list(messages))
        prompt = formatted.prompt.encode("utf-8")
        return self._llm.tokenize(prompt, add_bos=False, special=True), formatted.stop

    def _restore_prefix(self, llm, messages: Sequence[Message], tokens: list[int]) -> None:
        """Start from the evaluated system prompt instead of reading it again.

        llama.cpp keeps the tokens of the last prompt and re-reads only from the first one
        that differs, so consecutive answers in one language already share their system
        prompt. A question in the other language, or a follow-up's rewrite prompt, would
        throw that away; so the model state right after each distinct system prompt is
        saved once (a few MB each) and loaded when it is the longer shared start.
        """
        if not messages or messages[0]["role"] != "system":
            return
        prefix = self._system_prefix_tokens(messages[0])
        if not prefix or tokens[: len(prefix)] != prefix:
            return  # the template does not render the system prompt as a plain prefix
        key = tuple(prefix)
        evaluated = list(llm._input_ids[: llm.n_tokens])
        if evaluated[: len(prefix)] == prefix:
            return  # llama.cpp reuses it by itself
        state = self._prefix_states.get(key)
        if state is not None:
            llm.load_state(state)
            return
        llm.reset()
        llm.eval(prefix)
        self._prefix_states[key] = llm.save_state()

    def _system_prefix_tokens(self, system: Message) -> list[int]:
        """The tokens of the rendered prompt up to the end of the system message."""
        key = system["content"]
        if key not in self._prefix_tokens:
            llm = self._llm
            marker = "\u0000end-of-system\u0000"
            rendered = self._formatter(
                messages=[system, {"role": "user", "content": marker}]
            ).prompt
            head = rendered[: rendered.index(marker)] if marker in rendered else ""
            # Keep only whole tokens that the full prompt starts with: drop the last one,
            # which may merge with what follows.
            ids = llm.tokenize(head.encode("utf-8"), add_bos=False, special=True)[:-1]
            self._prefix_tokens[key] = ids
        return self._prefix_tokens[key]


def _chat_formatter(llm, path: Path):
    """A renderer for the model's own chat template (from the GGUF metadata)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelNotFoundError(
            f"{path} has no chat template in its metadata: use an instruction-tuned GGUF model"
        )
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
    bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
