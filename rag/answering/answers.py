"""What an answer is: its text, the numbered sources it was given, which it cited, and
how long each stage took."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.types import Hit


@dataclass(frozen=True)
class Source:
    """A numbered passage the model was given: `[number]` in the answer points here.

    Neighbouring hits of one document are joined into one source, so `hits` may hold
    several. `text` is the whole joined passage, shown on the source card; `evidence` is
    what the model read of it: the sentences that bear on the question, with their
    neighbours ("" before they are chosen; `trimmed` if cut to fit).
    """

    number: int
    source: str  # file path as ingested
    page: int | None
    heading: str
    title: str
    text: str
    score: float  # the best fused retrieval score among its hits
    hits: tuple[Hit, ...]
    trimmed: bool = False
    evidence: str = ""

    @property
    def read_text(self) -> str:
        """What the model reads of this source."""
        return self.evidence or self.text

    @property
    def name(self) -> str:
        return Path(self.source).name

    @property
    def collection(self) -> str:
        """The collection its document belongs to."""
        return self.hits[0].collection if self.hits else ""

    @property
    def label(self) -> str:
        """'it_security_policy.pdf, page 2' or just the file name."""
        return f"{self.name}, page {self.page}" if self.page else self.name

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "source": self.source,
            "collection": self.collection,
            "page": self.page,
            "heading": self.heading,
            "title": self.title,
            "score": self.score,
            "trimmed": self.trimmed,
            "chunk_ids": [h.chunk_id for h in self.hits],
            "text": self.text,
            "evidence": self.read_text,
        }


@dataclass(frozen=True)
class Timings:
    """Seconds per stage; `tokens_per_second` counts generated pieces (about tokens)."""

    rewrite: float = 0.0
    retrieval: float = 0.0
    # Reading the prompt before deciding whether to write (the decline check); it counts
    # in first_token and generation too, since the reader waits for it.
    reading: float = 0.0
    first_token: float | None = None  # from the start of generation
    generation: float = 0.0
    # Making the answer again when the check could not back it (rag.answering.second_look).
    second_look: float = 0.0
    total: float = 0.0
    tokens: int = 0
    prompt_tokens: int = 0  # what the model read, chat template included

    @property
    def tokens_per_second(self) -> float | None:
        if not self.tokens or self.first_token is None:
            return None
        decoding = self.generation - self.first_token
        return self.tokens / decoding if decoding > 0 else None

    def as_dict(self) -> dict:
        return {
            "rewrite_s": round(self.rewrite, 3),
            "retrieval_s": round(self.retrieval, 3),
            "reading_s": round(self.reading, 3),
            "first_token_s": None if self.first_token is None else round(self.first_token, 3),
            "generation_s": round(self.generation, 3),
            "second_look_s": round(self.second_look, 3),
            "total_s": round(self.total, 3),
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
            "tokens_per_s": None
            if self.tokens_per_second is None
            else round(self.tokens_per_second, 1),
        }


@dataclass(frozen=True)
class ClaimCheck:
    """One answer sentence checked against the sources (see rag.answering.verify).

    `start:end` slices the final answer text back to `sentence`. `quote` is the source
    sentence that supports it, or, when it is unsupported, the closest one ("" if none
    comes close); `source_number` is the source holding the quote.
    """

    sentence: str
    start: int
    end: int
    supported: bool
    facts: tuple[str, ...]  # the checkable items found in the sentence, as written
    missing: tuple[str, ...]  # those no source sentence holds
    source_number: int | None
    quote: str
    cited: tuple[int, ...]  # the source numbers the model wrote after the sentence
    corrected_from: tuple[int, ...] = ()  # what it wrote, when the citation was corrected
    citation_added: bool = False  # it cited nothing; [source_number] was added after it

    @property
    def corrected(self) -> bool:
        return bool(self.corrected_from)

    def as_dict(self) -> dict:
        return {
            "sentence": self.sentence,
            "start": self.start,
            "end": self.end,
            "supported": self.supported,
            "facts": list(self.facts),
            "missing": list(self.missing),
            "source_number": self.source_number,
            "quote": self.quote,
            "cited": list(self.cited),
            "corrected_from": list(self.corrected_from),
            "citation_added": self.citation_added,
        }


@dataclass(frozen=True)
class Answer:
    question: str
    standalone_question: str  # the question searched for (follow-ups rewritten)
    text: str
    sources: tuple[Source, ...]  # every source consulted, numbered from 1
    citations: tuple[int, ...]  # the source numbers the text cites, in order of first use
    declined: bool  # the documents do not hold the answer
    # "no-evidence" (off topic: decided before the model), "doubt" (the calibrated
    # score said the sources do not answer; see rag.answering.declining), "model" (its own
    # "cannot find" reply) or "unconfirmed" (its answer failed the claim check twice; see
    # rag.answering.second_look)
    decline_reason: str = ""
    timings: Timings = field(default_factory=Timings)
    claims: tuple[ClaimCheck, ...] = ()  # each answer sentence checked (rag.answering.verify)
    # What the decline decision saw of the evidence (see rag.answering.declining.EvidenceSignals).
    signals: dict = field(default_factory=dict)
    # Why the model's first answer was not shown as written ("unsupported": a number, date,
    # name or code of it is in no source; "restated": it only said the question back), and
    # that first answer; "" when it was shown.
    revision: str = ""
    draft: str = ""

    @property
    def cited_sources(self) -> tuple[Source, ...]:
        by_number = {s.number: s for s in self.sources}
        return tuple(by_number[n] for n in self.citations)

    @property
    def unsupported_claims(self) -> tuple[ClaimCheck, ...]:
        return tuple(c for c in self.claims if not c.supported)

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "text": self.text,
            "declined": self.declined,
            "decline_reason": self.decline_reason,
            "citations": list(self.citations),
            "sources": [s.as_dict() for s in self.sources],
            "timings": self.timings.as_dict(),
            "claims": [c.as_dict() for c in self.claims],
            "signals": self.signals,
            "revision": self.revision,
            "draft": self.draft,
        }
