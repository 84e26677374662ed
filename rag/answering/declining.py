"""Whether the documents hold the answer: decided from the evidence and the model's own
inclination, before it writes a word.

One cosine gate cannot tell a near miss from an answer. On the shared clapnq set the
unanswerable questions' best passages are on the same topic as the question, and a
small model given them answers anyway: greedy decoding declined only a fifth of them.
What it *would* say is more telling than what it says: the probability that its reply
starts with the "cannot find" sentence is ten times higher, at the median, for the
unanswerable questions. That probability is read off the prompt the model has to read
anyway (see LlamaCppGenerator.first_token_probability), so it costs nothing.

The decision combines what is known, in three steps:

1. `before_model`: the best passage is clearly off topic (a low cosine) or not one
   question word is found: decline at once, without the model.
2. `doubt`: a logistic score of the log "cannot find" probability, the coverage of the
   question's words in the best two neighbouring sentences, and the best cosine; at or
   above `max_doubt` the answer is declined before it is written. Fitted on clapnq's
   300 + 300 questions (scripts/calibrate_declining.py prints the curve).
3. `after_model`: the model's own "cannot find" reply declines.

Where the generator cannot tell the probability (a remote server), step 2 is skipped.
The probability is the answering model's own and the cosine the embedder's, so the
score is fitted for each pair of bundled model and embedder (`DeclinePolicy.fitted_for`);
the defaults are the default pair's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from rag.config import BUNDLED_GENERATOR, FAST_GENERATOR, canonical_model
from rag.text.embedding import BUNDLED_EMBEDDER_ID, MULTILINGUAL_EMBEDDER_ID


@dataclass(frozen=True)
class EvidenceSignals:
    """What is known of the evidence before the model writes."""

    best_cosine: float | None  # None: dense search switched off
    coverage: float  # share of the question's word weight two neighbouring sentences hold
    known_language: bool  # whether the embedder knows the question's language
    # Probability that the model's reply starts like its "cannot find" sentence (None:
    # the generator cannot tell, or the model was not asked).
    decline_probability: float | None = None
    language: str = "en"  # the prompt's language (which decline sentence was probed)

    def with_probability(self, probability: float | None) -> EvidenceSignals:
        return replace(self, decline_probability=probability)

    def as_dict(self) -> dict:
        def rounded(value):
            return None if value is None else round(value, 4)

        return {
            "best_cosine": rounded(self.best_cosine),
            "coverage": round(self.coverage, 4),
            "known_language": self.known_language,
            "decline_probability": rounded(self.decline_probability),
            "language": self.language,
        }


@dataclass(frozen=True)
class DeclinePolicy:
    """The thresholds and weights of the decline decision (see the module docstring)."""

    # A best passage under this cosine is off topic. multilingual-e5 scores even
    # unrelated passages above 0.75 (clapnq's best passages: 0.80 to 0.93), so with it
    # the gate never fires and the doubt score's cosine term does its work.
    min_cosine: float = 0.30
    # For an embedder that knows only some languages, on a question in another one.
    min_cosine_other_language: float = 0.20
    min_coverage: float = 0.0
    # The doubt score: bias + weights of log(p), coverage and cosine, fitted on clapnq's
    # 600 questions with the default pair (see FITTED_DOUBT) and the cosine's weight held
    # at -8 (scripts/calibrate_declining.py says why). At 0.65 the score alone declines
    # 62.7% of clapnq's unanswerable questions and 8.7% of its answerable ones (0.60:
    # 68.0% / 11.0%; 0.70: 58.7% / 6.3%).
    doubt_bias: float = 10.778
    doubt_log_probability: float = 0.388
    doubt_coverage: float = -2.911
    doubt_cosine: float = -8.0
    # Added to log(p) for a prompt in another language than the one the score was fitted
    # on. "No encuentro…" starts with "No", which Spanish answers start with far more
    # often than English ones start with "I": on the same 78 xquad questions asked in
    # both languages (seed 7), log(p) is 2.97 higher in Spanish at the median.
    log_probability_shift: Mapping[str, float] = field(default_factory=lambda: {"es": -2.97})
    max_doubt: float = 0.65  # 1.0: never decline on doubt alone

    def fitted_for(self, model: str | None, embedder_id: str | None) -> DeclinePolicy:
        """This policy with the gate and doubt score fitted for `model` (a model spec)
        answering from an index of `embedder_id`. A pair never fitted takes the default
        model's fit for that embedder, and an embedder never fitted the default one's."""
        model = canonical_model(model) if model else BUNDLED_GENERATOR
        for pair in (
            (model, embedder_id),
            (BUNDLED_GENERATOR, embedder_id),
            (model, MULTILINGUAL_EMBEDDER_ID),
        ):
            if pair in FITTED_DOUBT:
                return replace(self, **FITTED_DOUBT[pair])
        return self

    def before_model(self, signals: EvidenceSignals) -> bool:
        """True to decline without asking the model."""
        if signals.best_cosine is not None:
            floor = self.min_cosine if signals.known_language else self.min_cosine_other_language
            if signals.best_cosine < floor:
                return True
        return signals.coverage <= self.min_coverage

    def doubt(self, signals: EvidenceSignals) -> float | None:
        """The estimated chance (0 to 1) that the sources do not answer the question."""
        if signals.decline_probability is None:
            return None
        cosine = signals.best_cosine
        if cosine is None:
            cosine = 0.5  # dense search off: neither for nor against
        log_probability = math.log(max(signals.decline_probability, 1e-6))
        log_probability += self.log_probability_shift.get(signals.language, 0.0)
        score = (
            self.doubt_bias
            + self.doubt_log_probability * log_probability
            + self.doubt_coverage * signals.coverage
            + self.doubt_cosine * cosine
        )
        return 1 / (1 + math.exp(-score))

    def declines_on_doubt(self, signals: EvidenceSignals) -> bool:
        doubt = self.doubt(signals)
        return doubt is not None and doubt >= self.max_doubt

    def after_model(self, model_declined: bool) -> str:
        """The decline reason once the answer is written ("" to keep the answer)."""
        return "model" if model_declined else ""


# The gate and doubt score of every bundled pair of answer model and embedder, each
# fitted the same way on clapnq's 600 questions with that pair set (`RAG_LLM_MODEL=...
# python scripts/calibrate_declining.py --index <an index built with the embedder>`),
# and each model's Spanish shift measured on the same 78 parallel xquad questions. The
# embedder matters because its cosines are one of the signals: multilingual-e5 scores
# unrelated passages far higher than all-MiniLM-L6-v2 does. The class defaults above are
# the default pair's.
FITTED_DOUBT: dict[tuple[str, str], dict] = {
    (BUNDLED_GENERATOR, MULTILINGUAL_EMBEDDER_ID): {},  # the class defaults
    # MiniLM was the default embedder before e5; its cosine knows English only.
    (BUNDLED_GENERATOR, BUNDLED_EMBEDDER_ID): {
        "min_cosine": 0.30,
        "min_cosine_other_language": 0.20,
        "doubt_bias": 5.321,
        "doubt_log_probability": 0.364,
        "doubt_coverage": -2.649,
        "doubt_cosine": -3.0,
        "log_probability_shift": {"es": -2.97},
    },
    # SmolLM2-135M over MiniLM at 0.65: 55.3% of clapnq's unanswerable questions
    # declined, 10.3% of its answerable ones.
    (FAST_GENERATOR, BUNDLED_EMBEDDER_ID): {
        "min_cosine": 0.30,
        "min_cosine_other_language": 0.20,
        "doubt_bias": 7.016,
        "doubt_log_probability": 0.689,
        "doubt_coverage": -3.531,
        "doubt_cosine": -3.0,
        "log_probability_shift": {"es": -0.75},
    },
}
