"""People and permissions, tried as an attacker would: a reader after another
collection's facts, guessed document ids, path tricks, stale sessions, brute force.

Each refusal must leak nothing (no passage, file name or count of a collection not
granted) and say nothing about what exists.
"""

from __future__ import annotations

import io
import json
import sqlite3

import pytest
from fastapi.testclient import TestClient

from rag.answering.assistant import AnswerSettings, Assistant
from rag.answering.declining import DeclinePolicy
from rag.api.server import create_app
from rag.errors import AccessDeniedError, RagError
from rag.index.collections import CollectionNotFoundError
from rag.index.writer import ingest_paths
from rag.library import Library
from rag.llm.fake import EchoGenerator
from rag.search.retriever import Retriever
from rag.users import Accounts, SignInError, keys
from rag.users.accounts import LOCK_AFTER, LOCK_MINUTES, SessionSettings

PAYROLL = "# Payroll\n\nThe zanzibar bonus of 4,200 euros is paid to Ines Okafor in March.\n"
SECRET_WORDS = ("zanzibar", "Okafor", "4,200", "payroll")
PASSWORD = "a long enough password"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def people(tmp_path, docs, index_dir, embedder, clock):
    """`default` holds the sample corpus, `hr` a payroll memo. ana is the admin, rita a
    reader of `default`, eddie an editor of `default`."""
    ingest_paths([docs], index_dir, embedder)
    hr = tmp_path / "hr"
    hr.mkdir()
    (hr / "payroll.md").write_text(PAYROLL, encoding="utf-8")
    ingest_paths([hr], index_dir, embedder, collection="hr")
    accounts = Accounts(index_dir, SessionSettings(idle_minutes=30, max_hours=8), clock=clock)
    accounts.add("ana", "admin", "tests", password=PASSWORD)
    for name, role in (("rita", "reader"), ("eddie", "editor")):
        accounts.add(name, role, "tests", password=PASSWORD)
        accounts.grant(name, 1, "default", "tests")
    yield accounts
    accounts.close()


def leaks(text: str) -> list[str]:
    return [w for w in SECRET_WORDS if w.lower() in text.lower()]


# -- accounts and sign-in ----------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes_only(people, index_dir):
    raw = b"".join(p.read_bytes() for p in index_dir.glob("users.sqlite3*"))
    assert PASSWORD.encode() not in raw
    conn = sqlite3.connect(index_dir / "users.sqlite3")
    hashes = [r[0] for r in conn.execute("SELECT password_hash FROM users")]
    conn.close()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    audit = json.dumps([e.as_dict() for e in people.audit.entries()])
    assert PASSWORD not in audit


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(people, clock):
    with pytest.raises(SignInError) as wrong:
        people.sign_in("rita", "not her password")
    clock.now += 5
    with pytest.raises(SignInError) as unknown:
        people.sign_in("nobody-here", "not her password")
    assert str(wrong.value) == str(unknown.value) == "wrong name or password"


def test_brute_force_is_rate_limited_then_locked_for_a_while(people, clock):
    with pytest.raises(SignInError):
        people.sign_in("rita", "guess 0")
    with pytest.raises(SignInError, match="wait a moment"):  # straight away again
        people.sign_in("rita", PASSWORD)
    for n in range(1, LOCK_AFTER):
        clock.now += 2
        with pytest.raises(SignInError, match="wrong name or password"):
            people.sign_in("rita", f"guess {n}")
    clock.now += 2
    with pytest.raises(SignInError, match="too many failed sign-ins"):  # even the right one
        people.sign_in("rita", PASSWORD)
    # An unknown name is locked the same way, so a lock tells nothing about who exists.
    for n in range(LOCK_AFTER):
        clock.now += 2
        with pytest.raises(SignInError):
            people.sign_in("ghost", f"guess {n}")
    clock.now += 2
    with pytest.raises(SignInError, match="too many failed sign-ins"):
        people.sign_in("ghost", PASSWORD)
    clock.now += LOCK_MINUTES * 60 + 1
    user, token = people.sign_in("rita", PASSWORD)
    assert people.session_user(token).name == "rita"
    actions = [e.action for e in people.audit.entries(actor="rita")]
    assert actions.count("sign_in_failed") == LOCK_AFTER and "sign_in_lock" in actions


def test_an_admin_reset_unlocks_and_the_one_time_password_must_be_changed(people, clock):
    for n in range(LOCK_AFTER):
        clock.now += 2
        with pytest.raises(SignInError):
            people.sign_in("rita", f"guess {n}")
    one_time = people.reset_password("rita", "ana")
    clock.now += 2
    user, _ = people.sign_in("rita", one_time)
    assert user.must_change_password
    people.change_own_password("rita", one_time, "my very own password")
    assert not people.find("rita").must_change_password


def test_sessions_expire_end_at_sign_out_and_die_with_their_person(people, clock):
    _, token = people.sign_in("rita", PASSWORD)
    clock.now += 29 * 60
    assert people.session_user(token) is not None  # used: the idle clock restarts
    clock.now += 31 * 60
    assert people.session_user(token) is None  # idle too long
    _, token = people.sign_in("rita", PASSWORD)
    for _ in range(17):  # kept busy, but past the 8-hour limit
        clock.now += 29 * 60
    assert people.session_user(token) is None
    _, token = people.sign_in("rita", PASSWORD)
    people.sign_out(token)
    assert people.session_user(token) is None
    _, token = people.sign_in("rita", PASSWORD)
    people.reset_password("rita", "ana", "another long password")
    assert people.session_user(token) is None  # a reset ends every session
    _, token = people.sign_in("eddie", PASSWORD)
    people.remove("eddie", "ana")
    assert people.session_user(token) is None  # a stale session after removal


def test_the_last_admin_cannot_be_removed_or_demoted(people):
    with pytest.raises(RagError, match="only admin"):
        people.remove("ana", "ana")
    with pytest.raises(RagError, match="only admin"):
        people.set_role("ana", "reader", "ana")


def test_the_first_start_makes_one_admin_with_a_one_time_password(tmp_path, monkeypatch):
    monkeypatch.delenv("RAG_ADMIN_PASSWORD", raising=False)
    accounts = Accounts(tmp_path / "fresh")
    name, one_time = accounts.ensure_first_admin()
    assert name == "admin" and len(one_time) >= 16
    assert accounts.ensure_first_admin() is None  # once only
    user, _ = accounts.sign_in("admin", one_time)
    assert user.role == "admin" and user.must_change_password
    monkeypatch.setenv("RAG_ADMIN_PASSWORD", "short")
    with pytest.raises(RagError, match="RAG_ADMIN_PASSWORD"):
        Accounts(tmp_path / "other").ensure_first_admin()


# -- the audit trail ----------------------------------------------------------------------


def test_the_audit_trail_is_append_only_and_exports_as_json_lines(people, index_dir):
    people.audit.question("rita", "what is the lamp warranty?", None)
    conn = sqlite3.connect(index_dir / "users.sqlite3")
    for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()
    out = io.StringIO()
    count = people.audit.export_jsonl(out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(lines) >= 6
    assert [line["action"] for line in lines[:2]] == ["user_add", "user_add"]
    asked = lines[-1]
    assert asked["actor"] == "rita" and asked["action"] == "question"
    assert "text" not in asked["detail"]  # question text is off by default
    people.audit.keep_question_text = True
    people.audit.question("rita", "what is the lamp warranty?", ["default"])
    assert people.audit.entries(limit=1)[0].detail["text"] == "what is the lamp warranty?"


# -- the retriever, the assistant and the library -------------------------------------------


def test_a_reader_never_gets_a_passage_from_a_collection_not_granted(people, index_dir, embedder):
    rita = people.access_of("rita")
    with Retriever.open(index_dir, embedder) as retriever:
        everything = retriever.search("zanzibar bonus Okafor payroll", k=10)
        assert any(h.collection == "hr" for h in everything)  # the fact is there
        hits = retriever.search("zanzibar bonus Okafor payroll", k=10, access=rita)
        assert hits and all(h.collection == "default" for h in hits)
        assert not leaks(json.dumps([h.as_dict() for h in hits]))
        assert [c.name for c in retriever.collections(rita)] == ["default"]
        with pytest.raises(CollectionNotFoundError) as hidden:
            retriever.search("bonus", collection="hr", access=rita)
        with pytest.raises(CollectionNotFoundError) as missing:
            retriever.search("bonus", collection="nope", access=rita)
        # The same words for a collection that exists and one that does not.
        assert str(hidden.value).replace("'hr'", "X") == str(missing.value).replace("'nope'", "X")
        assert "hr" not in str(missing.value).replace("'nope'", "")
        nothing = people.access_of("ana").__class__("carl", "reader", frozenset(), frozenset())
        assert retriever.search("zanzibar bonus", access=nothing) == []

        assistant = Assistant(
            retriever,
            EchoGenerator(),  # repeats its prompt: whatever the model was shown is visible
            AnswerSettings(decline=DeclinePolicy(min_cosine=0, min_coverage=0)),
        )
        answer = assistant.answer("Who is paid the bonus in March?", access=rita)
        assert not leaks(answer.text + json.dumps(answer.as_dict()))


def test_the_library_shows_a_reader_nothing_of_other_collections(people, index_dir, embedder):
    admin_view = Library(index_dir, embedder=embedder, collection="hr")
    payroll = admin_view.documents()[0]
    rita = people.access_of("rita")
    hr = admin_view.as_caller(rita)
    assert hr.documents() == [] and hr.stats().documents == 0
    assert hr.document(payroll.id) is None  # a guessed id finds nothing
    with pytest.raises(RagError) as refused:
        hr.document_file(payroll.id)
    assert "payroll" not in str(refused.value)
    assert [c.name for c in hr.collections()] == ["default"]
    for change in (
        lambda: hr.delete(payroll.path),
        lambda: hr.save_upload("x.md", b"# x\n\ntext\n"),
        lambda: hr.ingest_files([payroll.path], force=True),
    ):
        with pytest.raises(CollectionNotFoundError):
            change()
    assert admin_view.documents() == [payroll]  # nothing was lost


def test_readers_read_editors_change_only_their_collections_admins_manage(
    people, index_dir, embedder
):
    default = Library(index_dir, embedder=embedder)
    doc = default.documents()[0]
    reader = default.as_caller(people.access_of("rita"))
    # The index's size counts every collection's passages: not for a reader's eyes.
    assert reader.stats().documents and reader.stats().index_bytes == 0
    assert default.stats().index_bytes > 0
    assert reader.document_file(doc.id).name == doc.path.rsplit("/", 1)[-1]
    with pytest.raises(AccessDeniedError, match="may read but not change"):
        reader.delete(doc.path)
    with pytest.raises(AccessDeniedError):
        reader.save_upload("new.md", b"# New\n\nSome text.\n")
    editor = default.as_caller(people.access_of("eddie"), people.audit)
    saved = editor.save_upload("../../escape.md", b"# Escape\n\nPath tricks stay inside.\n")
    assert saved.parent == default.docs_dir.resolve() and saved.name == "escape.md"
    assert editor.ingest_files([saved])[0].status == "added"
    assert editor.delete(str(saved)).status == "removed"
    with pytest.raises(CollectionNotFoundError):  # an editor cannot make a collection appear
        default.in_collection("brand-new").as_caller(people.access_of("eddie")).save_upload(
            "a.md", b"# A\n\ntext\n"
        )
    with pytest.raises(AccessDeniedError, match="only an admin"):
        editor.create_collection("legal")
    with pytest.raises(AccessDeniedError, match="only an admin"):
        editor.delete_collection("hr")
    actions = [(e.actor, e.action) for e in people.audit.entries(actor="eddie")]
    assert ("eddie", "upload") in actions and ("eddie", "delete") in actions


# -- the HTTP API -------------------------------------------------------------------------


def test_the_api_gives_a_readers_key_nothing_of_other_collections(people, index_dir, embedder):
    admin_library = Library(index_dir, embedder=embedder)
    payroll = admin_library.in_collection("hr").documents()[0]
    key = keys.create(people, "rita-script", "rita", "tests")
    retriever = Retriever.open(index_dir, embedder)
    assistant = Assistant(
        retriever, EchoGenerator(), AnswerSettings(decline=DeclinePolicy(min_cosine=0))
    )
    app = create_app(assistant, admin_library, people)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as api:
        bodies = []
        listed = api.get("/api/collections").json()["collections"]
        assert [c["name"] for c in listed] == ["default"]
        bodies.append(json.dumps(listed))
        for path in (
            "/api/collections/hr/documents",
            f"/api/collections/hr/documents/{payroll.id}",
            f"/api/collections/hr/documents/{payroll.id}/file",
            f"/api/collections/default/documents/{payroll.id}",  # the id, guessed elsewhere
            f"/api/collections/default/documents/{payroll.id}/file",
            "/api/collections/..%2Fhr/documents",
        ):
            response = api.get(path)
            assert response.status_code == 404, path
            bodies.append(response.text)
        hidden = api.get("/api/collections/hr/documents").json()["error"]["message"]
        missing = api.get("/api/collections/zz/documents").json()["error"]["message"]
        assert hidden.replace("'hr'", "X") == missing.replace("'zz'", "X")
        for response in (
            api.post("/api/search", json={"query": "zanzibar bonus Okafor", "k": 20}),
            api.post("/api/answers", json={"question": "Who is paid the bonus in March?"}),
            api.post(
                "/v1/chat/completions",
                json={
                    "model": "rag",
                    "messages": [{"role": "user", "content": "Who is paid the bonus in March?"}],
                },
            ),
            api.get("/v1/models"),
        ):
            assert response.status_code == 200
            bodies.append(response.text)
        for body in (
            api.post("/api/search", json={"query": "bonus", "collections": ["hr"]}),
            api.post(
                "/v1/chat/completions",
                json={"model": "rag:hr", "messages": [{"role": "user", "content": "bonus?"}]},
            ),
            api.delete(f"/api/collections/hr/documents/{payroll.id}"),
            api.delete("/api/collections/hr"),
        ):
            assert body.status_code in (403, 404)
            bodies.append(body.text)
        upload = api.post(
            "/api/collections/default/documents",
            files=[("files", ("../../x.md", b"# X\n\ntext\n", "text/markdown"))],
        )
        assert upload.status_code == 403 and "may read but not change" in upload.text
        assert not leaks("\n".join(bodies)), leaks("\n".join(bodies))
    assert admin_library.in_collection("hr").documents() == [payroll]
    retriever.close()


# -- the command lines --------------------------------------------------------------------


def test_the_command_lines_manage_people_and_search_as_one(tmp_path, docs):
    from test_cli import assert_clean_error, cli

    cwd = tmp_path.resolve()
    index = str(cwd / "idx")
    hr = cwd / "hr"
    hr.mkdir()
    (hr / "payroll.md").write_text(PAYROLL, encoding="utf-8")
    assert cli(cwd, "rag.ingest", str(docs), "--index", index).returncode == 0
    assert cli(cwd, "rag.ingest", str(hr), "--index", index, "--collection", "hr").returncode == 0
    added = cli(cwd, "rag.users", "--index", index, "add", "rita", "--grant", "default")
    assert added.returncode == 0 and "one-time password: " in added.stdout
    one_time = added.stdout.split("one-time password: ")[1].split()[0]
    assert one_time not in cli(cwd, "rag.users", "--index", index, "audit").stdout
    listed = cli(cwd, "rag.users", "--index", index, "list").stdout
    assert "rita" in listed and "reader" in listed and "default" in listed
    bad_grant = cli(cwd, "rag.users", "--index", index, "add", "sam", "--grant", "nope")
    assert_clean_error(bad_grant, 2, "no collection named 'nope'")
    assert "sam" not in cli(cwd, "rag.users", "--index", index, "list").stdout  # not half-made

    query = ("rag.search", "zanzibar bonus Okafor", "--index", index, "--k", "10")
    assert "payroll.md" in cli(cwd, *query).stdout  # the operator sees everything
    as_rita = cli(cwd, *query, "--user", "rita")
    assert as_rita.returncode == 0 and not leaks(as_rita.stdout), as_rita.stdout
    hidden = cli(cwd, *query, "--user", "rita", "--collection", "hr")
    assert_clean_error(hidden, 2, "no collection named 'hr' that you can read")
    nobody = cli(cwd, *query, "--user", "mallory")
    assert_clean_error(nobody, 2, "no user named 'mallory'")

    revoked = cli(cwd, "rag.users", "--index", index, "revoke", "rita", "default")
    assert revoked.returncode == 0
    assert "no matching passages" in cli(cwd, *query, "--user", "rita").stdout
    assert_clean_error(cli(cwd, "rag.users", "--index", index, "remove", "admin", "--yes"), 2)
    removed = cli(cwd, "rag.users", "--index", index, "remove", "rita", "--yes")
    assert removed.returncode == 0
    exported = cwd / "audit.jsonl"
    assert (
        cli(cwd, "rag.users", "--index", index, "audit", "--export", str(exported)).returncode == 0
    )
    actions = [json.loads(line)["action"] for line in exported.read_text().splitlines()]
    assert actions == ["user_add", "grant", "revoke", "user_remove"]
