"""The Streamlit app driven by AppTest: hash embedder, echo generator, a temporary index."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag import ingest_paths
from rag.answering.assistant import Assistant
from rag.llm.fake import EchoGenerator

ADMIN_PASSWORD = "correct horse battery"
APP = str(Path(__file__).resolve().parents[1] / "app.py")
EVIL = (
    "# Evil\n\nClick <script>alert('x')</script> and ![img](http://example.com/x.png) "
    "<img src=http://example.com/y.png> or [here](http://example.com/z) "
    "for the warranty claim form.\n"
)
# The only tags the app itself writes into st.html.
OWN_TAGS = {"style", "div", "span", "mark"}


@pytest.fixture
def app_env(monkeypatch, tmp_path, docs, index_dir, embedder):
    (docs / "evil.md").write_text(EVIL, encoding="utf-8")
    (docs / "odd<b>name.md").write_text(
        "# Odd\n\nClick here for the warranty claim form (evil script alert img src example).\n"
    )
    ingest_paths([docs], index_dir, embedder)
    monkeypatch.setenv("RAG_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("RAG_DOCS_DIR", str(tmp_path / "managed"))
    monkeypatch.setenv("RAG_EMBEDDER", "hash")
    monkeypatch.setenv("RAG_LLM_MODEL", "echo")
    monkeypatch.setenv("RAG_ADMIN_PASSWORD", ADMIN_PASSWORD)
    return docs


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    inputs = {t.label: t for t in at.text_input}
    inputs["Name"].input(name)
    inputs["Password"].input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception, at.exception
    return at


def start(name: str = "admin", password: str | None = None) -> AppTest:
    """The app, signed in (as the first admin unless told otherwise)."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Sign in to ragdesk"
    return sign_in(at, name, password or ADMIN_PASSWORD)


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def plain(markdown: str) -> str:
    """A Markdown element's text as shown (the app backslash-escapes punctuation)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def html_bodies(at: AppTest) -> list[str]:
    return [h.value for h in at.html]


def answers(at: AppTest) -> list[str]:
    return [b for b in html_bodies(at) if 'class="rd-answer"' in b or 'class="rd-declined"' in b]


def cards(at: AppTest) -> list[str]:
    return [b for b in html_bodies(at) if 'class="rd-card"' in b]


def open_documents(at: AppTest) -> AppTest:
    next(b for b in at.button if b.label == "Manage documents").click().run()
    assert at.title[0].value == "Documents"
    return at


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_chat_turn_streams_an_answer_with_numbered_source_cards(app_env):
    at = ask(start(), "How long is the warranty for a lamp?")
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    (answer,) = answers(at)
    assert "Echo:" in answer  # the echo generator repeats its prompt
    found = cards(at)
    assert found and all(f"[{n}]" in card for n, card in enumerate(found, start=1))
    faq = next(c for c in found if "faq.txt" in c)
    assert "three-year" in faq and "relevance" in faq
    assert '<mark class="rd-hit">warranty</mark>' in faq
    assert any("tokens/s" in c.value or " s · search" in c.value for c in at.caption)


def test_follow_ups_send_the_conversation_and_new_conversation_clears_it(app_env, monkeypatch):
    histories = []
    original = Assistant.stream

    def spy(self, question, history=(), **options):
        histories.append(list(history))
        return original(self, question, history, **options)

    monkeypatch.setattr(Assistant, "stream", spy)
    at = ask(start(), "How long is the warranty for a lamp?")
    at = ask(at, "And which protocols are supported?")
    assert histories[0] == []
    assert [m["role"] for m in histories[1]] == ["user", "assistant"]
    assert histories[1][0]["content"] == "How long is the warranty for a lamp?"
    assert len(at.chat_message) == 4 and len(answers(at)) == 2

    button(at, "New conversation").click().run()
    assert len(at.chat_message) == 0


def test_a_declined_answer_says_so_and_shows_the_closest_passages(app_env):
    at = ask(start(), "zebra quantum xylophone")
    (answer,) = answers(at)
    assert 'class="rd-declined"' in answer and "Not found in your documents" in answer
    assert cards(at), "the closest passages are still shown"
    assert any("do not answer the question" in c.value for c in at.caption)


def test_documents_and_model_output_are_never_rendered_as_html_or_markdown(app_env):
    at = ask(
        start(), "evil click script alert img src http example com png here warranty claim form"
    )
    bodies = html_bodies(at)
    shown = "\n".join(bodies)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in shown  # visible, as text
    assert "![img](http://example.com/x.png)" in shown
    assert "&lt;img src=http://example.com/y.png&gt;" in shown
    assert "odd&lt;b&gt;name.md" in shown
    # The answer (the echo of a prompt holding that document) is escaped just the same.
    assert "&lt;script&gt;" in answers(at)[0]
    for body in bodies:
        tags = {t.lower() for t in re.findall(r"</?\s*([a-zA-Z][\w-]*)", body)}
        assert tags <= OWN_TAGS, body
        assert "<img" not in body and "<script" not in body and "<a " not in body
    markdown = [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any("http://" in m or "<script" in m for m in markdown)


def test_upload_stores_safe_names_refuses_bad_files_and_answers_from_them(
    app_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("RAG_MAX_UPLOAD_MB", "0.001")  # about 1 KB
    at = open_documents(start())
    at.file_uploader[0].set_value(
        [
            ("../../escape.md", b"# Zeppelin\n\nThe zeppelin lamp glows green.\n", "text/markdown"),
            ("huge.txt", b"x" * 5000, "text/plain"),
            ("virus.exe", b"MZ", "application/octet-stream"),
        ]
    ).run()
    errors = [plain(e.value) for e in at.error]
    assert any("huge.txt" in e and "limit" in e for e in errors)
    assert any("virus.exe" in e and "cannot be read" in e for e in errors)
    button(at, "Add 1 file to the library").click().run()
    assert not at.exception, at.exception
    assert any("1 added" in s.value for s in at.success)

    managed = tmp_path / "managed"
    assert sorted(p.name for p in managed.iterdir()) == ["escape.md"]
    assert not (tmp_path.parent / "escape.md").exists()
    names = at.dataframe[-1].value["Name"].tolist()
    assert "escape.md" in names and "huge.txt" not in names
    assert len(at.file_uploader) == 1 and not at.file_uploader[0].value  # cleared

    # The chat page finds the new document at once.
    at = ask(start(), "zeppelin lamp")
    assert any("escape.md" in c for c in cards(at))


def test_delete_takes_a_document_out_of_answers_at_once(app_env):
    faq = str((app_env / "faq.txt").resolve())
    at = ask(start(), "How long is the warranty for a lamp?")
    assert any("faq.txt" in c for c in cards(at))
    at = open_documents(at)
    at.multiselect[0].set_value([faq]).run()
    button(at, "Delete").click().run()
    assert not at.exception, at.exception
    assert any("1 removed" in s.value for s in at.success)
    assert "faq.txt" not in at.dataframe[-1].value["Name"].tolist()
    assert (app_env / "faq.txt").exists(), "a file outside the documents folder is kept"

    at = ask(start(), "How long is the warranty for a lamp?")
    assert cards(at) and not any("faq.txt" in c for c in cards(at))


def test_reingest_reads_a_document_again(app_env):
    at = open_documents(start())
    handbook = str((app_env / "handbook.md").resolve())
    at.multiselect[0].set_value([handbook]).run()
    button(at, "Re-ingest").click().run()
    assert not at.exception, at.exception
    assert any("1 updated" in s.value for s in at.success)


def test_documents_page_shows_the_table_and_index_statistics(app_env):
    at = open_documents(start())
    table = at.dataframe[-1].value
    assert set(table.columns) >= {
        "Name",
        "Type",
        "Pages",
        "Passages",
        "Status",
        "Notes",
        "Ingested",
    }
    assert sorted(table["Name"]) == sorted(p.name for p in app_env.iterdir())
    assert {m.label: m.value for m in at.metric}["Documents"] == "5"


def test_an_empty_index_shows_how_to_start_and_loads_the_sample_documents(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_DOCS_DIR", str(tmp_path / "managed"))
    monkeypatch.setenv("RAG_EMBEDDER", "hash")
    monkeypatch.setenv("RAG_LLM_MODEL", "echo")
    monkeypatch.setenv("RAG_ADMIN_PASSWORD", ADMIN_PASSWORD)
    at = start()
    assert any("No readable documents yet" in i.value for i in at.info)
    assert at.chat_input[0].disabled
    button(at, "Go to Documents").click().run()
    assert any("The library is empty" in i.value for i in at.info)
    button(at, "Load the sample documents").click().run()
    assert not at.exception, at.exception
    names = at.dataframe[-1].value["Name"].tolist()
    assert "it_security_policy.pdf" in names and len(names) == 8

    at = ask(start(), "What is the minimum password length?")
    assert any("it_security_policy.pdf" in c for c in cards(at))


def test_a_bad_setting_is_shown_as_a_message(app_env, monkeypatch):
    monkeypatch.setenv("RAG_LLM_TEMPERATURE", "warm")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert any("RAG_LLM_TEMPERATURE" in plain(e.value) for e in at.error)


def test_sidebar_settings_reach_the_assistant(app_env, monkeypatch):
    seen = []
    original = Assistant.stream

    def spy(self, question, history=(), **options):
        seen.append(options)
        return original(self, question, history, **options)

    monkeypatch.setattr(Assistant, "stream", spy)
    at = start()
    at.slider(key="k").set_value(3)
    at.toggle(key="auto_weight").set_value(False).run()
    at.slider(key="dense_weight").set_value(0.3)
    at.slider(key="temperature").set_value(0.5)
    at.slider(key="max_tokens").set_value(128)
    ask(at, "How long is the warranty for a lamp?")
    access = seen[0].pop("access")
    assert seen == [{"k": 3, "dense_weight": 0.3, "temperature": 0.5, "max_tokens": 128}]
    assert access.user == "admin" and access.readable is None
    assert len(cards(at)) <= 3
    info = at.sidebar.expander[0].text[0].value
    assert "Answer model: echo" in info and "Context: 2048 tokens" in info


def test_an_unsupported_sentence_is_marked_with_what_the_source_says(
    app_env, monkeypatch, index_dir, embedder
):
    """The model says something no source says and cites the wrong source for a date:
    the first is marked with the handbook's own sentence beneath, the second's citation
    corrected."""
    (app_env / "requests.md").write_text(
        "# Requests\n\nPaid holiday days per year are requested in the HR portal; unused "
        "requests expire after a week.\n",
        encoding="utf-8",
    )
    ingest_paths([app_env], index_dir, embedder)

    def reply(self, messages, *, temperature, max_tokens):
        labels = dict(re.findall(r"^\[(\d+)\] (\S+)", messages[-1]["content"], re.MULTILINE))
        number = {name: n for n, name in labels.items()}
        yield f"Paid holiday is approved by the team lead [{number['handbook.md']}]. "
        yield f"Unused days expire on 31 March [{number['requests.md']}]."

    monkeypatch.setattr(EchoGenerator, "stream", reply)
    at = ask(start(), "How many paid holiday days per year, and when do unused days expire?")
    (answer,) = answers(at)
    marked = re.search(r'<mark class="rd-unsupported"[^>]*>(.*?)</mark>', answer).group(1)
    assert "approved by the team lead" in marked and "⚠ not in the sources" in answer
    assert "The source says: " in answer and "handbook.md" in answer
    assert "“Every employee has 23 days of paid holiday per year.”" in answer
    corrected = re.search(r"Citation corrected from \[(\d+)\] to \[(\d+)\]", answer)
    assert corrected and corrected.group(1) != corrected.group(2)
    shown = re.sub("<[^>]+>", "", answer)
    assert f"Unused days expire on 31 March [{corrected.group(2)}]" in shown

    # The conversation replayed on the next run shows the same marks.
    at.run()
    assert not at.exception, at.exception
    assert answers(at) == [answer]


def test_an_answer_with_a_number_in_no_source_is_replaced_and_the_reader_told_why(
    app_env, monkeypatch, index_dir, embedder
):
    ingest_paths([app_env], index_dir, embedder)
    replies = iter(["Every employee has 25 days of paid holiday [1].", "23 days [1]."])

    def reply(self, messages, *, temperature, max_tokens):
        yield next(replies)

    monkeypatch.setattr(EchoGenerator, "stream", reply)
    at = start()
    at = ask(at, "How many days of paid holiday does every employee have?")
    (answer,) = answers(at)
    shown = re.sub("<[^>]+>", "", answer)
    assert "23 days [1]." in shown and "25" not in shown
    captions = " ".join(c.value for c in at.caption)
    assert "named a value no source holds" in captions and "this one passed" in captions
    at.run()  # replayed on the next run, with its note
    assert answers(at) == [answer] and "this one passed" in " ".join(c.value for c in at.caption)


@pytest.fixture
def hr_collection(app_env, tmp_path, index_dir, embedder):
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "payroll.md").write_text(
        "# Payroll\n\nSalaries are paid on the 25th of each month by bank transfer.\n"
    )
    ingest_paths([hr], index_dir, embedder, collection="hr")
    return hr


def test_the_chat_asks_only_the_collections_picked(hr_collection):
    at = start()
    picker = at.multiselect(key="ask_in")
    assert picker.options == ["default", "hr"] and picker.value == []
    ask(at, "When are salaries paid each month?")
    everywhere = cards(at)
    assert any("payroll.md" in c and "collection hr" in c for c in everywhere)
    at.multiselect(key="ask_in").select("default").run()
    ask(at, "When are salaries paid each month?")
    latest = cards(at)[len(everywhere) :]
    assert latest and not any("payroll.md" in c for c in latest)


def test_the_documents_page_manages_the_collection_picked(hr_collection):
    at = open_documents(start())
    at.selectbox(key="collection").select("hr").run()
    assert plain(at.title[0].value) == "Documents: hr"
    names = [row for row in at.dataframe[0].value["Name"]]
    assert names == ["payroll.md"]


def test_collections_are_created_renamed_and_deleted_in_the_app(hr_collection):
    at = open_documents(start())
    button(at, "Manage collections").click().run()
    assert at.title[0].value == "Collections"
    assert list(at.dataframe[0].value["Collection"]) == ["default", "hr"]

    name = next(t for t in at.text_input if t.label == "Name")
    name.input("legal")
    button(at, "Create").click().run()
    assert any("Created legal" in plain(s.value) for s in at.success)
    assert list(at.dataframe[0].value["Collection"]) == ["default", "hr", "legal"]

    name = next(t for t in at.text_input if t.label == "Name")
    name.input("bad name")
    button(at, "Create").click().run()
    assert any("is not valid" in plain(e.value) for e in at.error)

    at.selectbox(key="collection_to_change").select("legal").run()
    next(t for t in at.text_input if t.label == "New name").input("contracts")
    button(at, "Rename").click().run()
    assert list(at.dataframe[0].value["Collection"]) == ["default", "contracts", "hr"]

    at.selectbox(key="collection_to_change").select("hr").run()
    at.button(key="confirm_delete_collection").click().run()
    assert any("Deleted hr" in plain(s.value) for s in at.success)
    assert list(at.dataframe[0].value["Collection"]) == ["default", "contracts"]
    assert hr_collection.joinpath("payroll.md").exists()  # ingested from elsewhere: kept


# -- signing in ---------------------------------------------------------------------------


def add_person(index_dir, name: str, role: str, grants=(1,)) -> str:
    from rag.users import Accounts

    accounts = Accounts(index_dir)
    accounts.ensure_first_admin()
    accounts.add(name, role, "tests", password=f"{name} long password")
    for cid in grants:
        accounts.grant(name, cid, "default", "tests")
    accounts.close()
    return f"{name} long password"


def test_nothing_shows_before_sign_in_and_a_wrong_password_is_refused(app_env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.title[0].value == "Sign in to ragdesk"
    assert not at.chat_input and not cards(at) and not at.dataframe
    assert any("one-time password printed in the terminal" in plain(c.value) for c in at.caption)
    sign_in(at, "admin", "not the password")
    assert any("wrong name or password" in plain(e.value) for e in at.error)
    assert at.title[0].value == "Sign in to ragdesk"


def test_a_reader_sees_only_their_collections_and_cannot_change_documents(hr_collection, index_dir):
    password = add_person(index_dir, "rita", "reader")
    at = start("rita", password)
    assert all(m.key != "ask_in" for m in at.multiselect)  # one collection: nothing to pick
    ask(at, "When are salaries paid each month?")
    assert not any("payroll.md" in c for c in cards(at))
    assert all("Salaries are paid" not in b for b in html_bodies(at))
    open_documents(at)
    assert not at.file_uploader and "Delete" not in [b.label for b in at.button]
    from rag.users import Accounts

    accounts = Accounts(index_dir)
    assert accounts.audit.entries(action="download") == []  # shown, not downloaded
    assert [e.action for e in accounts.audit.entries(actor="rita")][-1] == "sign_in"
    accounts.close()
    assert at.selectbox(key="collection").options == ["default"]
    assert "Manage collections" not in [b.label for b in at.button]
    next(b for b in at.button if b.label == "Sign out").click().run()
    assert at.title[0].value == "Sign in to ragdesk"


def test_a_one_time_password_must_be_replaced_before_anything_else(app_env, index_dir):
    from rag.users import Accounts

    accounts = Accounts(index_dir)
    accounts.ensure_first_admin()
    _, one_time = accounts.add("nora", "reader", "tests")
    accounts.close()
    at = start("nora", one_time)
    assert at.title[0].value == "Choose your password" and not at.chat_input
    fields = {t.label: t for t in at.text_input}
    fields["One-time password"].input(one_time)
    fields["New password (at least 10 characters)"].input("nora's own password")
    fields["New password again"].input("nora's own password")
    next(b for b in at.button if b.label == "Save").click().run()
    assert at.title[0].value == "Ask your documents"
