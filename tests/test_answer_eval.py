"""The answer benchmark's scoring: the shared rule, the sample, the summary."""

from rag.answering.answer_eval import contains_answer, sample, summarize
from rag.search.retrieval_eval import Question
from rag.text.lexical import told_language


def test_contains_answer_follows_the_shared_rule():
    assert contains_answer("It opened in 1,200 days [1].", ("1200",))
    assert contains_answer("Se abrió con 1.200 plazas.", ("1 200",))
    assert contains_answer("Run by the ＡＢＣ team", ("abc team",))  # NFKC + casefold
    assert contains_answer("from  Nova\nScotia", ("from nova scotia",))
    assert not contains_answer("In 1903 [1].", ("1900",))
    assert not contains_answer("anything", ("",))


def _question(qid: str, answerable: bool) -> Question:
    return Question(qid, f"question {qid}?", ("x",), (("a.txt", None),), answerable)


def test_sample_is_fixed_by_the_seed_not_by_the_file_order():
    questions = [_question(f"q{i}", i % 3 != 0) for i in range(30)]
    first = sample(questions, 5, seed=7)
    again = sample(list(reversed(questions)), 5, seed=7)
    assert [q.id for q in first] == [q.id for q in again]
    assert sum(q.answerable for q in first) == 5 and sum(not q.answerable for q in first) == 5
    assert [q.id for q in sample(questions, 5, seed=8)] != [q.id for q in first]


def test_a_bare_name_or_number_tells_no_language():
    assert told_language("Catherine Tate [1].") is None
    assert told_language("2014 [1]") is None
    assert told_language("Acompañamiento [1].") == "es"  # ñ is Spanish
    assert told_language("El 60,9 % de las personas [1].") == "es"
    assert told_language("At 08:00 on working days [1].") == "en"


def _record(answerable=True, declined=False, correct=False, answer_language="en", lang="en"):
    return {
        "answerable": answerable,
        "declined": declined,
        "correct": correct,
        "gold_cited": correct,
        "gold_given": True,
        "answer_language": None if declined else answer_language,
        "lang": lang,
        "first_token_s": None if declined else 1.0,
        "total_s": 2.0,
    }


def test_summary_counts_language_only_where_the_answer_tells_one():
    records = [
        _record(correct=True, answer_language="es", lang="es"),
        _record(correct=True, answer_language=None, lang="es"),  # "Catherine Tate [1]."
        _record(answer_language="en", lang="es"),
        _record(declined=True, lang="es"),
        _record(answerable=False, declined=True, lang="es"),
    ]
    summary = summarize(records)
    assert summary["answerable"] == 4 and summary["unanswerable"] == 1
    assert summary["correct"] == 0.5
    assert summary["wrongly_declined"] == 0.25
    assert summary["unanswerable_declined"] == 1.0
    assert summary["answer_in_question_language"] == 0.5


def test_retrieval_scores_are_split_by_format_where_the_set_names_one(tmp_path, embedder):
    import json

    from rag import Retriever, ingest_paths
    from rag.search.retrieval_eval import evaluate, load_dataset

    docs = tmp_path / "set" / "docs"
    docs.mkdir(parents=True)
    (docs / "a.txt").write_text("The forklift limit is 8 km/h.", encoding="utf-8")
    (docs / "b.csv").write_text("Team,Open roles\nFirmware,6\n", encoding="utf-8")
    rows = [
        {"id": "1", "question": "forklift limit", "answers": ["8 km/h"], "format": "txt",
         "gold": [{"source": "a.txt", "page": None}]},
        {"id": "2", "question": "Firmware open roles", "answers": ["Open roles: 6"],
         "format": "csv", "gold": [{"source": "b.csv", "page": None}]},
        {"id": "3", "question": "forklift", "answers": ["nowhere"], "format": "csv",
         "gold": [{"source": "b.csv", "page": None}]},
    ]  # fmt: skip
    (tmp_path / "set" / "questions.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows), encoding="utf-8"
    )
    (tmp_path / "set" / "dataset.json").write_text('{"match": "answer-in-source"}')
    rule, questions = load_dataset(tmp_path / "set")
    ingest_paths([docs], tmp_path / "index", embedder)
    with Retriever.open(tmp_path / "index", embedder=embedder) as retriever:
        result = evaluate(retriever, questions, rule, docs, [1, 5])
    assert result["by_format"]["txt"] == {"questions": 1, "hit@1": 1.0, "hit@5": 1.0, "mrr@10": 1.0}
    assert result["by_format"]["csv"]["questions"] == 2
    assert result["by_format"]["csv"]["hit@5"] == 0.5
