"""The decline decision: the gate before the model, the calibrated doubt score, and the
model's own reply, with the hash embedder and a generator that reports its inclination."""

import math

import pytest

from rag import Retriever, ingest_paths
from rag.answering.assistant import NOT_FOUND, AnswerSettings, Assistant
from rag.answering.declining import DeclinePolicy, EvidenceSignals
from rag.llm.fake import EchoGenerator

POLICY = DeclinePolicy(
    min_cosine=0.05,
    min_cosine_other_language=0.05,
    doubt_bias=4.0,
    doubt_log_probability=1.0,
    doubt_coverage=-2.0,
    doubt_cosine=-1.0,
    max_doubt=0.5,
)


class InclinedGenerator(EchoGenerator):
    """An echo generator that says how likely it is to start with the decline sentence."""

    def __init__(self, probability: float, reply: str = "Every lamp has a three-year warranty."):
        super().__init__(reply)
        self.probability = probability
        self.probed: list[str] = []

    def first_token_probability(self, messages, text):
        self.probed.append(text)
        return self.probability


@pytest.fixture
def retriever(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        yield r


def test_the_doubt_score_is_the_logistic_of_its_weighted_signals():
    signals = EvidenceSignals(best_cosine=0.6, coverage=0.5, known_language=True)
    assert POLICY.doubt(signals) is None  # no probability: no score
    sure = signals.with_probability(0.001)
    expected = 1 / (1 + math.exp(-(4.0 + math.log(0.001) - 2.0 * 0.5 - 0.6)))
    assert POLICY.doubt(sure) == pytest.approx(expected)
    assert not POLICY.declines_on_doubt(sure)
    torn = signals.with_probability(0.9)
    assert POLICY.declines_on_doubt(torn)
    # A tiny probability is floored, not a math error.
    assert POLICY.doubt(signals.with_probability(0.0)) < 0.01


def test_a_spanish_probability_is_shifted_before_scoring():
    """ "No encuentro…" starts like many Spanish answers: its probability runs higher."""
    policy = DeclinePolicy(log_probability_shift={"es": -2.0})
    english = EvidenceSignals(0.5, 0.5, True, 0.01, language="en")
    spanish = EvidenceSignals(0.5, 0.5, True, 0.01 * math.exp(2.0), language="es")
    assert policy.doubt(spanish) == pytest.approx(policy.doubt(english))


def test_the_gate_declines_off_topic_evidence_before_the_model():
    policy = DeclinePolicy(min_cosine=0.3, min_cosine_other_language=0.2)
    assert policy.before_model(EvidenceSignals(0.25, 0.9, True))
    assert not policy.before_model(EvidenceSignals(0.25, 0.9, False))
    assert policy.before_model(EvidenceSignals(0.9, 0.0, True))  # not one question word
    assert not policy.before_model(EvidenceSignals(None, 0.4, True))  # dense search off


def test_a_torn_model_declines_before_writing(retriever):
    generator = InclinedGenerator(0.95)
    settings = AnswerSettings(decline=POLICY)
    answer = Assistant(retriever, generator, settings).answer("How long is the warranty?")
    assert answer.declined and answer.decline_reason == "doubt"
    assert answer.text == NOT_FOUND["en"]
    assert generator.calls == []  # it never wrote
    assert generator.probed == ["I cannot find the answer in your documents."]
    assert answer.sources  # the closest passages are still shown
    assert answer.signals["decline_probability"] == 0.95
    assert answer.signals["doubt"] >= 0.5


def test_a_sure_model_answers_and_the_signals_say_why(retriever):
    generator = InclinedGenerator(0.001, reply="La dieta diaria es de 45 euros [1].")
    settings = AnswerSettings(decline=POLICY)
    answer = Assistant(retriever, generator, settings).answer(
        "¿Cuál es la dieta diaria para viajes nacionales?"
    )
    assert not answer.declined
    assert generator.probed == ["No encuentro la respuesta en tus documentos."]
    # The reader waited for the prompt to be read: it counts in the first token's time.
    timings = answer.timings
    assert timings.first_token is not None and timings.first_token >= timings.reading > 0
    assert answer.signals["doubt"] < 0.5
    assert set(answer.signals) == {
        "best_cosine",
        "coverage",
        "known_language",
        "decline_probability",
        "language",
        "doubt",
    }


def test_without_a_probability_the_doubt_step_is_skipped(retriever):
    generator = EchoGenerator("Every lamp has a three-year warranty.")  # like a remote server
    answer = Assistant(retriever, generator, AnswerSettings(decline=POLICY)).answer(
        "How long is the warranty?"
    )
    assert not answer.declined and answer.signals["doubt"] is None


def test_each_bundled_pair_gets_the_doubt_score_fitted_on_its_own_signals():
    from rag.answering.declining import FITTED_DOUBT
    from rag.config import BUNDLED_GENERATOR, FAST_GENERATOR
    from rag.text.embedding import BUNDLED_EMBEDDER_ID, MULTILINGUAL_EMBEDDER_ID

    default = DeclinePolicy()
    # The defaults are the default pair's fit: the default model over the default embedder.
    assert default.fitted_for(None, MULTILINGUAL_EMBEDDER_ID) == default
    assert default.fitted_for(BUNDLED_GENERATOR, MULTILINGUAL_EMBEDDER_ID) == default
    fits = []
    for (model, embedder_id), fitted in FITTED_DOUBT.items():
        policy = default.fitted_for(model, embedder_id)
        assert all(getattr(policy, name) == value for name, value in fitted.items())
        fits.append(policy)
    assert all(a != b for i, a in enumerate(fits) for b in fits[i + 1 :])  # none borrowed
    assert (BUNDLED_GENERATOR, BUNDLED_EMBEDDER_ID) in FITTED_DOUBT
    assert (FAST_GENERATOR, BUNDLED_EMBEDDER_ID) in FITTED_DOUBT
    assert default.fitted_for("smollm2", BUNDLED_EMBEDDER_ID) == default.fitted_for(
        FAST_GENERATOR, BUNDLED_EMBEDDER_ID
    )
    # A GGUF file of one's own reads like the default model; an unknown embedder like e5.
    assert default.fitted_for("/models/other.gguf", BUNDLED_EMBEDDER_ID) == default.fitted_for(
        BUNDLED_GENERATOR, BUNDLED_EMBEDDER_ID
    )
    assert default.fitted_for(FAST_GENERATOR, "hash-64") == default.fitted_for(
        FAST_GENERATOR, MULTILINGUAL_EMBEDDER_ID
    )


def test_the_assistant_uses_its_pairs_fit_unless_given_a_policy(retriever, monkeypatch):
    from rag.text.embedding import BUNDLED_EMBEDDER_ID

    generator = InclinedGenerator(0.01)
    generator.model = "smollm2"
    assistant = Assistant(retriever, generator)
    fitted = DeclinePolicy().fitted_for("smollm2", retriever.embedder.id)
    assert assistant.decline_policy() == fitted
    # A rebuild that switches the index's embedder switches the fit with it.
    monkeypatch.setattr(retriever.embedder, "id", BUNDLED_EMBEDDER_ID)
    assert assistant.decline_policy() == DeclinePolicy().fitted_for("smollm2", BUNDLED_EMBEDDER_ID)
    assert assistant.decline_policy() != fitted
    chosen = Assistant(retriever, generator, AnswerSettings(decline=POLICY))
    assert chosen.decline_policy() == POLICY
