"""The answer pipeline with the hash embedder and scripted generators: no model weights."""

import re
import threading
from dataclasses import replace

import pytest

from rag import Retriever, ingest_paths
from rag.answering.assistant import (
    NOT_CONFIRMED,
    NOT_FOUND,
    AnswerSettings,
    Assistant,
    looks_like_follow_up,
    resolve_citations,
)
from rag.answering.declining import DeclinePolicy
from rag.answering.prompting import DECLINE, answer_messages
from rag.errors import ConfigError
from rag.llm.base import GeneratorError
from rag.llm.fake import EchoGenerator

# The hash embedder's cosines are word-overlap scores; any real overlap clears this.
TEST_SETTINGS = AnswerSettings(
    decline=DeclinePolicy(min_cosine=0.05, min_cosine_other_language=0.05, min_coverage=0.0)
)


class ScriptedGenerator(EchoGenerator):
    """Replies with the next scripted text on each call."""

    def __init__(self, *replies: str):
        super().__init__()
        self.replies = list(replies)

    def stream(self, messages, *, temperature, max_tokens):
        self.reply = self.replies.pop(0)
        return super().stream(messages, temperature=temperature, max_tokens=max_tokens)


@pytest.fixture
def retriever(docs, index_dir, embedder):
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as r:
        yield r


def test_answer_streams_and_keeps_only_citations_that_point_somewhere(retriever):
    generator = EchoGenerator("Every lamp has a three-year warranty [1]. See also [9].")
    stream = Assistant(retriever, generator, TEST_SETTINGS).stream("How long is the warranty?")
    assert stream.sources and not stream.declined  # known before the first token
    pieces = list(stream)
    assert len(pieces) > 1  # streamed, not in one block
    answer = stream.answer
    assert answer.text == "Every lamp has a three-year warranty [1]. See also."
    assert answer.citations == (1,)
    assert answer.cited_sources[0].name == "faq.txt"
    assert answer.timings.first_token is not None and answer.timings.tokens == len(pieces)
    # The model read the question and the numbered, quoted sources.
    user = generator.calls[0][-1]["content"]
    assert "Question: How long is the warranty?" in user and '[1] faq.txt\n"""' in user


def test_weak_evidence_declines_without_asking_the_model(retriever):
    generator = EchoGenerator("should never be said")
    strict = AnswerSettings(decline=DeclinePolicy(min_cosine=0.99, min_cosine_other_language=0.99))
    answer = Assistant(retriever, generator, strict).answer("How long is the warranty?")
    assert answer.declined and answer.decline_reason == "no-evidence"
    assert answer.text == NOT_FOUND["en"]
    assert answer.sources  # the closest passages are still shown
    assert generator.calls == []
    spanish = Assistant(retriever, generator, strict).answer("¿Cuánto dura la garantía?")
    assert spanish.text == NOT_FOUND["es"]


def test_the_models_own_not_found_is_a_decline(retriever):
    generator = EchoGenerator(DECLINE["en"])
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.declined and answer.decline_reason == "model" and answer.citations == ()


def test_an_answer_citing_nothing_still_lists_what_was_consulted(retriever):
    generator = EchoGenerator("Ask the support team.")  # no source says so: nothing to cite
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.citations == () and answer.sources and not answer.declined
    assert answer.text == "Ask the support team." and not answer.revision


def test_a_supported_answer_citing_nothing_cites_the_source_that_says_it(retriever):
    generator = EchoGenerator("Three years.")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.text == "Three years [1]." and answer.citations == (1,)
    assert answer.claims[0].citation_added and "three-year warranty" in answer.claims[0].quote
    assert answer.cited_sources[0].name == "faq.txt"


def test_citation_markers_are_resolved():
    assert resolve_citations("A [1][2, 7] b [0] c [2].", 2) == ("A [1][2] b c [2].", (1, 2))
    assert resolve_citations("No markers.", 3) == ("No markers.", ())


def test_follow_up_is_rewritten_before_retrieval(retriever):
    generator = ScriptedGenerator("How long is the warranty of a lamp?", "Three years [1].")
    history = [
        {"role": "user", "content": "Which protocols does a lamp support?"},
        {"role": "assistant", "content": "Zigbee and Matter over Thread [1]."},
    ]
    assistant = Assistant(retriever, generator, TEST_SETTINGS)
    answer = assistant.answer("and the warranty?", history)
    assert answer.standalone_question == "How long is the warranty of a lamp?"
    assert "and the warranty?" in generator.calls[0][-1]["content"]  # the rewrite prompt
    assert "Which protocols" in generator.calls[0][-1]["content"]
    assert answer.sources[0].name == "faq.txt"


def test_a_bad_rewrite_falls_back_to_the_previous_question(retriever):
    generator = ScriptedGenerator("", "Three years [1].")
    history = [{"role": "user", "content": "Which protocols are supported?"}]
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("and the warranty?", history)
    assert answer.standalone_question == "Which protocols are supported? and the warranty?"


def test_a_question_that_stands_alone_is_not_rewritten(retriever):
    generator = ScriptedGenerator("Three years [1].")
    history = [{"role": "user", "content": "Which protocols are supported?"}]
    question = "How long is the warranty on every lamp sold?"
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer(question, history)
    assert answer.standalone_question == question and len(generator.calls) == 1


@pytest.mark.parametrize(
    "question, expected",
    [
        ("and for contractors?", True),
        ("¿Y para los becarios?", True),
        ("What about the Dublin office?", True),
        ("Does that apply to interns as well?", True),
        ("How many days of paid holiday does every employee have per year?", False),
        ("¿Cuál es la dieta diaria para viajes nacionales en España?", False),
    ],
)
def test_follow_up_detection(question, expected):
    assert looks_like_follow_up(question) is expected


def test_bad_questions_and_options_are_clear_errors(retriever):
    assistant = Assistant(retriever, EchoGenerator(), TEST_SETTINGS)
    with pytest.raises(ConfigError, match="question is empty"):
        assistant.answer("  ")
    with pytest.raises(ConfigError, match="at least 1"):
        assistant.answer("warranty?", k=0)
    with pytest.raises(ConfigError, match="temperature"):
        assistant.answer("warranty?", temperature=5)


def test_concurrent_questions_each_get_their_own_answer(retriever):
    assistant = Assistant(retriever, EchoGenerator(), TEST_SETTINGS)
    questions = ["How long is the warranty?", "Which protocols are supported?"] * 3
    answers = [None] * len(questions)

    def ask(i):
        answers[i] = assistant.answer(questions[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for question, answer in zip(questions, answers, strict=True):
        assert question in answer.text  # the echo of its own question


@pytest.mark.parametrize(
    "model_reply",
    [
        "Zigbee and Matter over Thread [1].",  # the earlier answer again
        "The answer is: three years.",  # an answer, not a question: "warranty" is gone
        "What is the warranty?",  # the follow-up restated: nothing from the conversation
    ],
)
def test_a_rewrite_that_answers_instead_is_not_used(retriever, model_reply):
    generator = ScriptedGenerator(model_reply, "Three years [1].")
    history = [
        {"role": "user", "content": "Which protocols are supported?"},
        {"role": "assistant", "content": "Zigbee and Matter over Thread [1]."},
    ]
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("and the warranty?", history)
    assert answer.standalone_question == "Which protocols are supported? and the warranty?"


def test_no_room_for_any_source_declines_instead_of_asking_blind(retriever):
    generator = EchoGenerator("should never be said", context_size=300)
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer(
        "How long is the warranty?", max_tokens=150
    )
    assert answer.declined and answer.sources and generator.calls == []


def test_copied_quote_delimiters_are_removed_from_the_answer(retriever):
    generator = EchoGenerator('Every lamp has a three-year warranty [1].\n"""')
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.text == "Every lamp has a three-year warranty [1]."


def test_the_evidence_budget_holds_as_much_text_in_spanish_as_in_english():
    settings = AnswerSettings(evidence_tokens=200, evidence_token_ratio={"es": 1.5})
    assert settings.evidence_budget("en") == 200
    assert settings.evidence_budget("es") == 300
    assert AnswerSettings().evidence_budget("es") > AnswerSettings().evidence_budget("en")


# -- the second look (rag.answering.second_look) --------------------------------------------


class PointingGenerator(ScriptedGenerator):
    """Scripted replies, and a pointer that favours one numbered sentence."""

    def __init__(self, favourite: int, *replies: str):
        super().__init__(*replies)
        self.favourite = favourite
        self.pointer_prompts: list[str] = []

    def first_token_probabilities(self, messages, texts):
        self.pointer_prompts.append(messages[-1]["content"])
        return [0.9 if t == str(self.favourite) else 0.1 / len(texts) for t in texts]


def test_an_answer_whose_number_is_in_no_source_is_made_again_from_one_sentence(retriever):
    generator = ScriptedGenerator("Five years [1].", "Three years [1].")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.text == "Three years [1]." and not answer.declined
    assert answer.revision == "unsupported" and answer.draft == "Five years [1]."
    assert answer.claims[0].supported and answer.timings.second_look >= 0
    # The second answer was made from one sentence: the best-covered one, since an echo
    # model cannot point.
    copy_prompt = generator.calls[-1][-1]["content"]
    assert "three-year warranty" in copy_prompt and "Zigbee" not in copy_prompt


def test_an_answer_that_fails_the_check_twice_is_not_shown(retriever):
    answer = Assistant(retriever, EchoGenerator("Five years [1]."), TEST_SETTINGS).answer(
        "How long is the warranty?"
    )
    assert answer.declined and answer.decline_reason == "unconfirmed"
    assert answer.text == NOT_CONFIRMED["en"] and "Five" not in answer.text
    assert answer.draft == "Five years [1]." and answer.sources and answer.citations == ()


def test_an_answer_that_says_the_question_back_is_made_again(retriever):
    generator = ScriptedGenerator("The warranty [1].", "Every lamp has a three-year warranty [1].")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer("How long is the warranty?")
    assert answer.revision == "restated" and "three-year" in answer.text


def test_the_model_points_at_the_sentence_the_answer_is_made_from(retriever):
    generator = PointingGenerator(2, "On 40 March [1].", "On 31 March [1].")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer(
        "How many days of paid holiday does every employee have, and when do unused days expire?"
    )
    (pointer,) = generator.pointer_prompts
    first = pointer.split("[1]", 1)[1].split('"""')[1].strip()
    second = pointer.split("[2]", 1)[1].split('"""')[1].strip()
    copy_prompt = generator.calls[-1][-1]["content"]
    assert second in copy_prompt and first not in copy_prompt
    assert answer.revision == "unsupported" and answer.text == "On 31 March [1]."


def test_the_second_look_can_be_switched_off(retriever):
    settings = replace(TEST_SETTINGS, second_look=False)
    generator = EchoGenerator("Five years [1].")
    answer = Assistant(retriever, generator, settings).answer("How long is the warranty?")
    assert answer.text == "Five years [1]." and not answer.claims[0].supported
    assert len(generator.calls) == 1 and not answer.revision


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_worked_example_copied_into_an_answer_is_never_shown(retriever, language):
    """The values of the prompt's worked examples are in no document: an answer that
    repeats one fails the check, and is withdrawn even when the model repeats it."""
    system = answer_messages("q", [], language)[0]["content"]
    examples = re.findall(r"^(?:Answer|Respuesta): (.+)$", system, flags=re.MULTILINE)
    assert len(examples) == 3
    question = "How long is the warranty?" if language == "en" else "¿Cuál es la dieta diaria?"
    with_facts = 0
    for example in examples:
        answer = Assistant(retriever, EchoGenerator(example), TEST_SETTINGS).answer(question)
        claims_had_facts = answer.draft and answer.revision
        with_facts += bool(claims_had_facts)
        assert answer.text != example and (answer.declined or answer.revision)
    assert with_facts == 3


def test_an_answer_that_says_the_question_back_twice_stands(retriever):
    # "Monday or Friday?" "Friday.": every word is the question's, and it is no false fact.
    answer = Assistant(retriever, EchoGenerator("The warranty [1]."), TEST_SETTINGS).answer(
        "How long is the warranty?"
    )
    assert answer.text == "The warranty [1]." and not answer.declined and not answer.revision


def test_a_value_the_question_gives_is_not_taken_for_a_made_up_one(retriever):
    # "Zorvik" is in no source, but the reader wrote it: echoing it invents nothing.
    generator = EchoGenerator("All Zorvik lamps have a three-year warranty [1].")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer(
        "How long is the warranty of Zorvik lamps?"
    )
    assert not answer.revision and not answer.declined and len(generator.calls) == 1
    assert answer.claims[0].missing == ("Zorvik",)


def test_a_number_the_sources_hold_under_another_unit_is_not_withdrawn(retriever):
    # The source says "45 euros"; "45 dollars" fails the check's unit, not its value.
    generator = EchoGenerator("It is 45 dollars a day [1].")
    answer = Assistant(retriever, generator, TEST_SETTINGS).answer(
        "¿Cuál es la dieta diaria para viajes nacionales?"
    )
    assert answer.claims[0].missing == ("45 dollars",)
    assert not answer.revision and len(generator.calls) == 1


def test_a_model_failing_on_the_second_look_leaves_the_answer_unconfirmed(retriever):
    class FailingAgain(EchoGenerator):
        def stream(self, messages, *, temperature, max_tokens):
            if self.calls:
                raise GeneratorError("the model server went away")
            return super().stream(messages, temperature=temperature, max_tokens=max_tokens)

    answer = Assistant(retriever, FailingAgain("Five years [1]."), TEST_SETTINGS).answer(
        "How long is the warranty?"
    )
    assert answer.declined and answer.decline_reason == "unconfirmed"
