"""`python -m rag.ask` as a user runs it, with the hash embedder and the echo model."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import assert_clean_error, cli

from rag import Retriever, ingest_paths
from rag.answering.assistant import Assistant
from rag.cli import ask
from rag.llm.fake import EchoGenerator

QUESTION = "How long is the lamp warranty?"


def make_index(cwd: Path) -> None:
    docs = cwd / "docs"
    docs.mkdir()
    (docs / "faq.txt").write_text(
        "How long is the lamp warranty? Every lamp has a three-year warranty.\n",
        encoding="utf-8",
    )
    assert cli(cwd, "rag.ingest", "docs").returncode == 0


def test_ask_streams_the_answer_then_lists_the_sources(tmp_path):
    make_index(tmp_path)
    result = cli(tmp_path, "rag.ask", QUESTION, RAG_LLM_MODEL="echo")
    assert result.returncode == 0, result.stderr
    # The echo repeats its prompt, whose "[1] faq.txt" label counts as a citation.
    answer, _, sources = result.stdout.partition("\n\nSources:\n")
    assert answer.startswith("Echo: Sources:") and QUESTION in answer
    assert sources.startswith("[1] docs/faq.txt")


def test_ask_json_prints_the_whole_answer(tmp_path):
    make_index(tmp_path)
    result = cli(tmp_path, "rag.ask", QUESTION, "--json", RAG_LLM_MODEL="echo")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["question"] == QUESTION and not answer["declined"]
    assert answer["sources"][0]["source"].endswith("faq.txt")
    assert set(answer["timings"]) >= {"retrieval_s", "first_token_s", "tokens_per_s"}


def test_ask_errors_are_one_clear_line(tmp_path):
    make_index(tmp_path)
    no_index = cli(tmp_path, "rag.ask", QUESTION, "--index", "nowhere", RAG_LLM_MODEL="echo")
    assert_clean_error(no_index, 2, "nowhere")
    dead = cli(tmp_path, "rag.ask", QUESTION, RAG_LLM_URL="http://127.0.0.1:9/v1")
    assert_clean_error(dead, 2, "cannot reach the model server at http://127.0.0.1:9/v1")
    bad = cli(tmp_path, "rag.ask", QUESTION, RAG_LLM_MODEL="echo", RAG_LLM_CONTEXT="big")
    assert_clean_error(bad, 2, "RAG_LLM_CONTEXT='big'")


ALLOWANCE = (
    "# Travel\n\nThe daily meal allowance (per diem) is 62 euros inside the country and "
    "85 euros abroad.\n"
)


def ask_in_process(tmp_path, monkeypatch, embedder, reply: str, *args: str) -> None:
    """rag.cli.ask's main over a real index, with the model replying `reply`."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "travel.md").write_text(ALLOWANCE, encoding="utf-8")
    ingest_paths([docs], tmp_path / "index", embedder)
    retriever = Retriever.open(tmp_path / "index", embedder)
    assistant = Assistant(retriever, EchoGenerator(reply=reply))
    monkeypatch.setattr(ask, "default_assistant", lambda index: assistant)
    assert ask.main(["What is the meal allowance abroad?", *args]) == 0


def test_ask_names_the_unsupported_sentence_and_what_the_source_says(
    tmp_path, monkeypatch, capsys, embedder
):
    reply = "The allowance abroad is 85 euros [1]. Meals on trains are free for managers [1]."
    ask_in_process(tmp_path, monkeypatch, embedder, reply)
    out = capsys.readouterr().out
    checks, _, sources = out.partition("\n\nSources:\n")
    assert checks.splitlines()[-1] == (
        'unsupported: "Meals on trains are free for managers [1]." — the source says: "The '
        'daily meal allowance (per diem) is 62 euros inside the country and 85 euros abroad." '
        "[1] travel.md"
    )
    assert checks.count("unsupported:") == 1 and sources.startswith("[1] ")


def test_ask_says_when_an_answer_was_not_shown_as_written(tmp_path, monkeypatch, capsys, embedder):
    # 90 euros is in no source: the model is asked again (and, an echo, says it again).
    ask_in_process(tmp_path, monkeypatch, embedder, "The allowance abroad is 90 euros [1].")
    out = capsys.readouterr().out
    assert "is withdrawn: a number, date, name or code of it is in no source" in out
    assert "I could not confirm an answer in your documents" in out
    assert "Closest passages:" in out


def test_ask_json_holds_the_sentence_checks(tmp_path, monkeypatch, capsys, embedder):
    ask_in_process(tmp_path, monkeypatch, embedder, "It is 85 euros abroad [1].", "--json")
    (claim,) = json.loads(capsys.readouterr().out)["claims"]
    assert claim["supported"] and claim["facts"] == ["85 euros"] and claim["source_number"] == 1
