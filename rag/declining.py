"""Whether the documents hold the answer: decided from the evidence, before and after the
model writes.

One cosine gate cannot tell a near miss from an answer: on the shared clapnq set the
unanswerable questions' best passages are about as close to the question as the
answerable ones' (they are on the same topic). What separates them is whether the
question's rarer words meet in one sentence, whether the model itself says the sources
do not answer, and whether what it wrote is found in them. So:

- before the model: decline at once only when the evidence is clearly off topic (a low
  cosine, or a sentence coverage of the question's words too low to hold an answer);
  this also saves the model's time;
- after the model: its own "cannot find" reply declines; so does an answer none of whose
  checkable claims is found in the sources when the evidence was also thin.

The thresholds are calibrated on clapnq's 300 + 300 questions (see the README).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rag.answers import ClaimCheck


@dataclass(frozen=True)
class EvidenceSignals:
    """What is known of the evidence before the model is asked."""

    best_cosine: float | None  # None: dense search switched off
    coverage: float  # share of the question's word weight held by its best sentence
    known_language: bool  # whether the embedder knows the question's language

    def as_dict(self) -> dict:
        return {
            "best_cosine": None if self.best_cosine is None else round(self.best_cosine, 4),
            "coverage": round(self.coverage, 4),
            "known_language": self.known_language,
        }


@dataclass(frozen=True)
class DeclinePolicy:
    min_cosine: float = 0.30
    min_cosine_other_language: float = 0.20
    min_coverage: float = 0.2
    # An answer with no supported claim is declined when coverage is below this.
    min_coverage_unsupported: float = 0.0

    def before_model(self, signals: EvidenceSignals) -> bool:
        """True to decline without asking the model."""
        if signals.best_cosine is not None:
            floor = self.min_cosine if signals.known_language else self.min_cosine_other_language
            if signals.best_cosine < floor:
                return True
        return signals.coverage < self.min_coverage

    def after_model(
        self, model_declined: bool, claims: Sequence[ClaimCheck], signals: EvidenceSignals
    ) -> str:
        """The decline reason once the answer is written ("" to keep the answer)."""
        if model_declined:
            return "model"
        if (
            claims
            and not any(c.supported for c in claims)
            and signals.coverage < self.min_coverage_unsupported
        ):
            return "unsupported"
        return ""
