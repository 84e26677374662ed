"""Questions in, grounded answers out: rewrite a follow-up, retrieve, decline or prompt,
stream, and map the [n] citations back to sources.

    assistant = Assistant(Retriever.open(), make_generator())
    stream = assistant.stream("How long must passwords be?")
    stream.sources          # known before the first token
    for piece in stream:    # text as the model writes it
        print(piece, end="")
    stream.answer           # the whole Answer, timings included
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.answering.answers import Answer, ClaimCheck, Source, Timings
from rag.answering.declining import DeclinePolicy, EvidenceSignals
from rag.answering.evidence import best_window_coverage, focus_sources
from rag.answering.follow_up import looks_like_follow_up, plausible_rewrite, rewrite_messages
from rag.answering.prompting import (
    DECLINE,
    answer_messages,
    language_of_prompt,
    merge_neighbours,
    pack_sources,
    strip_delimiters,
)
from rag.answering.second_look import Revision, review
from rag.answering.verify import verify_answer
from rag.config import GeneratorSettings, default_index_dir
from rag.errors import ConfigError
from rag.llm import make_generator
from rag.llm.base import Generator, Message, count_prompt_tokens
from rag.search.retriever import CollectionChoice, QuestionWeights, Retriever
from rag.text.lexical import guess_language
from rag.types import EVERYTHING, Access

NOT_FOUND = {
    "en": "Not found in your documents: none of them says enough about this question. "
    "The closest passages are listed below.",
    "es": "No está en tus documentos: ninguno dice lo suficiente sobre esta pregunta. "
    "Abajo están los pasajes más cercanos.",
}
# An answer the claim check could not back, twice: not shown (rag.answering.second_look).
NOT_CONFIRMED = {
    "en": "I could not confirm an answer in your documents: what the model wrote is not "
    "in the sources. The closest passages are listed below.",
    "es": "No he podido confirmar una respuesta en tus documentos: lo que escribió el modelo "
    "no está en las fuentes. Abajo están los pasajes más cercanos.",
}


@dataclass(frozen=True)
class AnswerSettings:
    """How answers are made.

    `k` passages are retrieved; the model reads only their sentences that bear on the
    question (with neighbours), `evidence_tokens` of them at most for English text,
    because prompt length is what the reader waits for (see rag.answering.evidence).
    Other languages take more tokens to say as much: the budget is scaled by
    `evidence_token_ratio`, so a Spanish question gets as much evidence as an English
    one. `decline` decides from the evidence and the answer whether the documents hold
    the answer (see rag.answering.declining).
    """

    k: int = 4
    temperature: float = 0.1
    max_tokens: int = 256
    evidence_tokens: int = 240
    # Tokens per English token for the same text, by the default model's tokenizer:
    # the 48 parallel articles of xquad-es take 1.41 times the tokens of xquad-en's.
    evidence_token_ratio: Mapping[str, float] = field(default_factory=lambda: {"es": 1.4})
    decline: DeclinePolicy = field(default_factory=DeclinePolicy)
    rewrite_follow_ups: bool = True
    rewrite_max_tokens: int = 48
    # Room kept free for the chat template's own tokens around the messages.
    template_margin: int = 48
    # An answer whose number, date, name or code is in no source, or that only says the
    # question back, is made again from the sentence the model points at, or not shown
    # (see rag.answering.second_look).
    second_look: bool = True

    def evidence_budget(self, language: str) -> int:
        return round(self.evidence_tokens * self.evidence_token_ratio.get(language, 1.0))

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"number of passages (k) must be at least 1, got {self.k}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature must be between 0 and 2, got {self.temperature}")
        if self.max_tokens < 16:
            raise ConfigError(f"answer length must be at least 16 tokens, got {self.max_tokens}")
        if self.evidence_tokens < 32:
            raise ConfigError(
                f"evidence_tokens must be at least 32 tokens, got {self.evidence_tokens}"
            )


class AnswerStream:
    """One answer being written. Iterate for the text; then read `answer`."""

    def __init__(
        self,
        question: str,
        standalone_question: str,
        sources: tuple[Source, ...],
        pieces: Iterator[str] | None,
        language: str,
        timings: Timings,
        started: float,
        signals: EvidenceSignals | None = None,
        policy: DeclinePolicy | None = None,
        decline_reason: str = "no-evidence",
        review: Callable[[str, tuple[ClaimCheck, ...]], Revision | None] | None = None,
    ):
        self.question = question
        self.standalone_question = standalone_question
        self.sources = sources
        self.language = language
        self.signals = signals
        self._policy = policy or DeclinePolicy()
        # No pieces: the evidence says the documents do not answer; the model does not write.
        self.declined = pieces is None
        self._decline_reason = decline_reason
        self._pieces = pieces
        self._timings = timings
        self._started = started
        self._answer: Answer | None = None
        self._consumed = False
        # Looks again at the checked answer: rag.answering.second_look.review (None: the
        # answer is shown as written).
        self._review = review

    def __iter__(self) -> Iterator[str]:
        if self._consumed:
            raise RuntimeError("an answer stream can be read only once")
        self._consumed = True
        if self._pieces is None:
            text = NOT_FOUND[self.language]
            yield text
            self._finish(text, generation=0.0, first_token=None, tokens=0)
            return
        begun = time.perf_counter()
        first_token = None
        parts: list[str] = []
        for piece in self._pieces:
            if first_token is None:
                first_token = time.perf_counter() - begun
            parts.append(piece)
            yield piece
        self._finish(
            strip_delimiters("".join(parts)),
            generation=time.perf_counter() - begun,
            first_token=first_token,
            tokens=len(parts),
        )

    def _finish(self, text: str, generation: float, first_token: float | None, tokens: int):
        reading = self._timings.reading
        timings = Timings(
            rewrite=self._timings.rewrite,
            retrieval=self._timings.retrieval,
            reading=reading,
            first_token=None if first_token is None else reading + first_token,
            generation=reading + generation if tokens else generation,
            total=time.perf_counter() - self._started,
            tokens=tokens,
            prompt_tokens=self._timings.prompt_tokens,
        )
        citations: tuple[int, ...] = ()
        claims: tuple[ClaimCheck, ...] = ()
        revision = draft = ""
        if self.declined:
            reason = self._decline_reason
        else:
            text, citations = resolve_citations(text, len(self.sources))
            model_declined = says_not_found(text)
            reason = self._policy.after_model(model_declined)
            if not model_declined:
                # A corrected citation changes the text: map the citations again.
                text, claims = verify_answer(text, self.sources)
                looking = time.perf_counter()
                revised = self._review(text, claims) if self._review else None
                if revised is not None:
                    timings = replace(
                        timings,
                        second_look=time.perf_counter() - looking,
                        total=time.perf_counter() - self._started,
                    )
                    revision, draft = revised.reason, text
                    if revised.confirmed:
                        text, claims = revised.text, revised.claims
                    else:
                        text, claims, reason = NOT_CONFIRMED[self.language], (), "unconfirmed"
                text, citations = resolve_citations(text, len(self.sources))
        self._answer = Answer(
            question=self.question,
            standalone_question=self.standalone_question,
            text=text,
            sources=self.sources,
            citations=() if reason else citations,
            declined=bool(reason),
            decline_reason=reason,
            timings=timings,
            claims=() if reason else claims,
            signals=self._signals_dict(),
            revision=revision,
            draft=draft,
        )

    def _signals_dict(self) -> dict:
        if self.signals is None:
            return {}
        doubt = self._policy.doubt(self.signals)
        return {**self.signals.as_dict(), "doubt": None if doubt is None else round(doubt, 4)}

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:  # read to the end if the caller has not
                pass
        assert self._answer is not None
        return self._answer


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def resolve_citations(text: str, source_count: int) -> tuple[str, tuple[int, ...]]:
    """Keep the [n] markers that point at a source (in order of first use); drop the rest."""
    cited: list[int] = []

    def keep_valid(match: re.Match) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= source_count]
        for n in valid:
            if n not in cited:
                cited.append(n)
        return "".join(f"[{n}]" for n in valid)

    cleaned = _CITATION.sub(keep_valid, text)
    cleaned = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()
    return cleaned, tuple(cited)


def says_not_found(text: str) -> bool:
    """The model's own "not in the documents" reply (the prompt's exact sentence)."""
    folded = text.casefold()
    return any(sentence.casefold().rstrip(".") in folded for sentence in DECLINE.values())


class Assistant:
    """Answers questions from one index with one generator. Safe to share across threads:
    the retriever and the in-process model guard themselves."""

    def __init__(
        self,
        retriever: Retriever,
        generator: Generator,
        settings: AnswerSettings | None = None,
    ):
        self.retriever = retriever
        self.generator = generator
        settings = settings or AnswerSettings()
        # The doubt score reads this model's own probabilities and this embedder's
        # cosines: unless a policy was chosen, the fit for the pair is used, looked up
        # per question because a rebuild can switch the index's embedder.
        self._fitted_decline = settings.decline == DeclinePolicy()
        self.settings = settings

    def decline_policy(self) -> DeclinePolicy:
        """The decline policy for the next question."""
        if not self._fitted_decline:
            return self.settings.decline
        model = getattr(self.generator, "model", None)
        return self.settings.decline.fitted_for(model, self.retriever.embedder.id)

    def answer(self, question: str, history: Sequence[Message] = (), **options) -> Answer:
        return self.stream(question, history, **options).answer

    def stream(
        self,
        question: str,
        history: Sequence[Message] = (),
        *,
        k: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        dense_weight: float | None = None,
        source: str | None = None,
        collection: CollectionChoice = None,
        access: Access = EVERYTHING,
    ) -> AnswerStream:
        """Answer from the collection named `collection` (a list of names: from those;
        None: from every collection) of the index, of those `access` may read."""
        started = time.perf_counter()
        if not isinstance(question, str) or not question.strip():
            raise ConfigError("the question is empty: type a question about your documents")
        chosen = {"k": k, "temperature": temperature, "max_tokens": max_tokens}
        settings = replace(self.settings, **{n: v for n, v in chosen.items() if v is not None})

        standalone = self.standalone_question(question, history)
        rewritten = time.perf_counter()
        hits = self.retriever.search(
            standalone,
            k=settings.k,
            source=source,
            dense_weight=dense_weight,
            collection=collection,
            access=access,
        )
        merged = merge_neighbours(hits)
        # The question's words and their IDF: read once, for the signals and the evidence.
        weighted = self.retriever.question_weights(standalone)
        signals = self.evidence_signals(standalone, merged, weighted)
        retrieved = time.perf_counter()
        timings = Timings(rewrite=rewritten - started, retrieval=retrieved - rewritten)
        language = language_of_prompt(guess_language(question))

        policy = self.decline_policy()

        def declined(reason: str = "no-evidence") -> AnswerStream:
            # The closest passages are shown, whole, with the "not found" reply.
            return AnswerStream(
                question,
                standalone,
                tuple(merged),
                None,
                language,
                timings,
                started,
                signals,
                policy,
                decline_reason=reason,
            )

        if not hits or policy.before_model(signals):
            return declined()
        sources = self.fit_sources(standalone, merged, language, settings, weighted)
        if not sources:  # not one passage fits beside the question
            return declined()
        messages = answer_messages(standalone, sources, language)
        timings = replace(timings, prompt_tokens=count_prompt_tokens(self.generator, messages))
        probe = getattr(self.generator, "first_token_probability", None)
        if probe is not None and policy.max_doubt < 1.0:
            # Reads the prompt; the generation below starts from it.
            reading = time.perf_counter()
            signals = signals.with_probability(probe(messages, DECLINE[language]))
            timings = replace(timings, reading=time.perf_counter() - reading)
            if policy.declines_on_doubt(signals):
                return declined("doubt")
        pieces = self.generator.stream(
            messages, temperature=settings.temperature, max_tokens=settings.max_tokens
        )

        def review_answer(text: str, claims: tuple[ClaimCheck, ...]) -> Revision | None:
            return review(
                self.generator,
                standalone,
                sources,
                language,
                weighted,
                text,
                claims,
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
            )

        return AnswerStream(
            question,
            standalone,
            sources,
            pieces,
            language,
            timings,
            started,
            signals,
            policy,
            review=review_answer if settings.second_look else None,
        )

    # -- stages ---------------------------------------------------------------------------

    def evidence_signals(
        self, question: str, sources: Sequence[Source], weighted: QuestionWeights
    ) -> EvidenceSignals:
        """How close the retrieved passages come to the question, for the decline decision.
        `weighted` is the question's words and their IDF (Retriever.question_weights)."""
        cosines = [h.dense_score for s in sources for h in s.hits if h.dense_score is not None]
        word_stems, weights = weighted
        known = self.retriever.embedder.languages
        language = guess_language(question)
        return EvidenceSignals(
            best_cosine=max(cosines) if cosines else None,
            coverage=best_window_coverage(sources, word_stems, weights),
            known_language=known is None or language in known,
            language=language_of_prompt(language),
        )

    def fit_sources(
        self,
        question: str,
        merged: Sequence[Source],
        language: str,
        settings: AnswerSettings,
        weighted: QuestionWeights,
    ) -> tuple[Source, ...]:
        """The question-bearing sentences of the sources, within the evidence budget and
        the model's context beside the question and answer."""
        generator = self.generator
        word_stems, weights = weighted
        focused = focus_sources(
            merged, word_stems, weights, settings.evidence_budget(language), generator.count_tokens
        )
        budget = generator.context_size - settings.max_tokens - settings.template_margin
        sources = pack_sources(question, focused, language, budget, generator.count_tokens)
        # The chat template's exact cost is known only once rendered: drop sources until
        # the real prompt fits.
        while sources:
            used = count_prompt_tokens(generator, answer_messages(question, sources, language))
            if used + settings.max_tokens <= generator.context_size:
                break
            sources = sources[:-1]
        return tuple(sources)

    def standalone_question(self, question: str, history: Sequence[Message]) -> str:
        """A follow-up ("and for contractors?") rewritten to stand alone, using the history.

        Only questions that look like follow-ups are rewritten, with a short prompt and a
        few tokens of the model. The rewrite is kept only if it still holds every content
        word of the follow-up, adds one from the conversation and is not a copy of an
        earlier answer. Otherwise the previous question joined with the follow-up stands
        in: measured on the cases in scripts/answer_cases.json, the bundled 135M model
        mostly answers or restates instead of rewriting, and joining finds the right file
        first in 8 of 8 cases (the follow-up as typed: 5 of 8).
        """
        question = question.strip()
        asked = [m["content"].strip() for m in history if m["role"] == "user"]
        if not asked or not self.settings.rewrite_follow_ups or not looks_like_follow_up(question):
            return question
        rewritten = self.model_rewrite(question, history)
        if rewritten and plausible_rewrite(rewritten, question, history):
            return rewritten
        return f"{asked[-1]} {question}"

    def model_rewrite(self, question: str, history: Sequence[Message]) -> str:
        """The model's standalone version of a follow-up, unchecked ("" if it failed)."""
        try:
            text = "".join(
                self.generator.stream(
                    rewrite_messages(question, history),
                    temperature=0.0,
                    max_tokens=self.settings.rewrite_max_tokens,
                )
            )
        except Exception:  # a failed rewrite must not cost the answer
            return ""
        lines = text.strip().splitlines()
        return lines[0].strip() if lines else ""


_DEFAULT_LOCK = threading.Lock()
_DEFAULT_ASSISTANTS: dict[str, Assistant] = {}


def default_assistant(index_dir: str | Path | None = None) -> Assistant:
    """One assistant per index directory, on the configured models, made on first use."""
    key = str(Path(index_dir) if index_dir else default_index_dir())
    with _DEFAULT_LOCK:
        if key not in _DEFAULT_ASSISTANTS:
            generator_settings = GeneratorSettings.from_env()
            _DEFAULT_ASSISTANTS[key] = Assistant(
                Retriever.open(key),
                make_generator(generator_settings),
                AnswerSettings(
                    temperature=generator_settings.temperature,
                    max_tokens=generator_settings.max_tokens,
                ),
            )
        return _DEFAULT_ASSISTANTS[key]


def answer(
    question: str,
    history: Sequence[Message] = (),
    *,
    index_dir: str | Path | None = None,
    **options,
) -> Answer:
    """Answer a question from the index at `index_dir` (default: RAG_INDEX_DIR or
    .rag_index) with the configured model. Options: collection (a name, a list of names,
    or None for all), k, temperature, max_tokens, dense_weight, source."""
    return default_assistant(index_dir).answer(question, history, **options)


def answer_stream(
    question: str,
    history: Sequence[Message] = (),
    *,
    index_dir: str | Path | None = None,
    **options,
) -> AnswerStream:
    """Like `answer`, streaming: iterate for the text, then read `.answer`."""
    return default_assistant(index_dir).stream(question, history, **options)
