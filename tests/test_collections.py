"""Collections: named bodies of documents in one index, asked alone or together."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_cli import assert_clean_error, cli

from rag.answering.assistant import AnswerSettings, Assistant
from rag.errors import ConfigError, IndexMismatchError
from rag.index.collections import CollectionNotFoundError, check_name
from rag.index.rebuild import rebuild
from rag.index.store import DB_NAME, SCHEMA_VERSION, Store
from rag.index.writer import IndexWriter, ingest_paths
from rag.library import Library
from rag.llm.fake import EchoGenerator
from rag.search.retriever import Retriever
from rag.text.embedding import HashEmbedder
from rag.users import Accounts


class CountingEmbedder(HashEmbedder):
    """A hash embedder that counts the passages it embeds."""

    def __init__(self):
        super().__init__()
        self.embedded = 0

    def embed(self, texts):
        self.embedded += len(texts)
        return super().embed(texts)


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def two_collections(tmp_path, index_dir, embedder):
    """`hr` holds the payroll memo, `eng` the release memo; `default` the shared FAQ."""
    hr = write(
        tmp_path / "hr",
        {"payroll.md": "# Payroll\n\nSalaries are paid on the 25th of each month by transfer.\n"},
    )
    eng = write(
        tmp_path / "eng",
        {"release.md": "# Releases\n\nThe firmware release train leaves every second Tuesday.\n"},
    )
    shared = write(
        tmp_path / "shared",
        {"faq.txt": "Q: Where is the office?\nA: The office is at 12 Harbour Street.\n"},
    )
    ingest_paths([hr], index_dir, embedder, collection="hr")
    ingest_paths([eng], index_dir, embedder, collection="eng")
    ingest_paths([shared], index_dir, embedder)
    return {"hr": hr, "eng": eng, "default": shared}


def sources(hits) -> set[str]:
    return {Path(h.source).name for h in hits}


def test_a_search_sees_only_the_collections_it_names(two_collections, index_dir, embedder):
    with Retriever.open(index_dir, embedder) as retriever:
        everywhere = retriever.search("when are salaries paid release train office", k=10)
        assert sources(everywhere) == {"payroll.md", "release.md", "faq.txt"}
        hr_only = retriever.search(
            "when are salaries paid release train office", k=10, collection="hr"
        )
        assert sources(hr_only) == {"payroll.md"}
        assert {h.collection for h in hr_only} == {"hr"}
        # Names ignore case; several names ask several collections.
        both = retriever.search("salaries release office", k=10, collection=["HR", "eng"])
        assert sources(both) == {"payroll.md", "release.md"}
        # A lexical-only and a dense-only search obey the filter alike.
        for weight in (0.0, 1.0):
            hits = retriever.search("office salaries", k=10, collection="eng", dense_weight=weight)
            assert sources(hits) <= {"release.md"}


def test_an_unknown_collection_is_an_error_listing_the_others(two_collections, index_dir, embedder):
    with Retriever.open(index_dir, embedder) as retriever:
        with pytest.raises(CollectionNotFoundError, match="'legal'.*default, eng, hr"):
            retriever.search("salaries", collection="legal")
        with pytest.raises(ConfigError, match="no collection given"):
            retriever.search("salaries", collection=[])


def test_an_answer_cites_only_the_collection_asked(two_collections, index_dir, embedder):
    with Retriever.open(index_dir, embedder) as retriever:
        assistant = Assistant(retriever, EchoGenerator("Paid on the 25th [1]."), AnswerSettings())
        reply = assistant.answer("When are salaries paid?", collection="eng")
        assert all(s.collection == "eng" for s in reply.sources)
        assert "payroll.md" not in {s.name for s in reply.sources}
        assert all(s.as_dict()["collection"] == "eng" for s in reply.sources)


def test_the_same_file_in_two_collections_is_two_documents(tmp_path, index_dir):
    embedder = CountingEmbedder()
    folder = write(tmp_path / "docs", {"policy.md": "# Policy\n\nBadges are renewed yearly.\n"})
    ingest_paths([folder], index_dir, embedder, collection="hr")
    first = embedder.embedded
    report = ingest_paths([folder], index_dir, embedder, collection="eng")
    assert len(report.added) == 1  # not "unchanged": it is new to this collection
    assert embedder.embedded == first  # its passages' vectors are reused, not recomputed
    library = Library(index_dir, embedder=embedder, collection="hr")
    library.delete(str((folder / "policy.md").resolve()))
    assert (folder / "policy.md").exists()  # outside the managed folder: kept
    with Retriever.open(index_dir, embedder) as retriever:
        assert sources(retriever.search("badges renewed", collection="eng")) == {"policy.md"}
        assert retriever.search("badges renewed", collection="hr") == []


def test_re_ingesting_a_folder_into_one_collection_leaves_the_others(
    two_collections, index_dir, embedder
):
    (two_collections["hr"] / "payroll.md").unlink()
    report = ingest_paths([two_collections["hr"]], index_dir, embedder, collection="hr")
    assert [Path(p).name for p in report.removed] == ["payroll.md"]
    stats = {c.name: c.documents for c in Library(index_dir, embedder=embedder).collections()}
    assert stats == {"default": 1, "eng": 1, "hr": 0}


def test_collections_are_created_renamed_described_and_deleted(tmp_path, index_dir, embedder):
    docs_dir = tmp_path / "uploads"
    library = Library(index_dir, docs_dir=docs_dir, embedder=embedder)
    record = library.create_collection("contracts", "A client's contracts")
    assert Path(record.docs_dir) == tmp_path / "collections" / "contracts"
    contracts = library.in_collection("contracts")
    saved = contracts.save_upload("nda.md", b"# NDA\n\nThe agreement lasts three years.\n")
    assert saved.parent == Path(record.docs_dir).resolve()
    assert [r.status for r in contracts.ingest_files([saved])] == ["added"]
    assert library.stats().documents == 0  # the default collection is another one
    assert contracts.stats().documents == 1

    with pytest.raises(ConfigError, match="already exists"):
        library.create_collection("CONTRACTS")
    renamed = library.rename_collection("contracts", "client-acme")
    assert renamed.docs_dir == record.docs_dir  # its files stay where they are
    library.describe_collection("client-acme", "Acme's contracts")
    with Retriever.open(index_dir, embedder) as retriever:
        hits = retriever.search("agreement years", collection="client-acme")
        assert sources(hits) == {"nda.md"} and hits[0].collection == "client-acme"
        with pytest.raises(CollectionNotFoundError):
            retriever.search("agreement", collection="contracts")

    results = library.delete_collection("client-acme")
    assert [(r.name, r.status, r.detail) for r in results] == [
        ("nda.md", "removed", "file deleted")
    ]
    assert not saved.exists() and not Path(record.docs_dir).exists()
    assert [c.name for c in library.collections()] == ["default"]
    with Retriever.open(index_dir, embedder) as retriever:
        assert retriever.search("agreement years") == []
        assert retriever._vectors.size == 0  # its vectors went with it


def test_the_default_collection_stays(index_dir, embedder, docs):
    ingest_paths([docs], index_dir, embedder)
    library = Library(index_dir, embedder=embedder)
    with pytest.raises(ConfigError, match="cannot be deleted"):
        library.delete_collection("default")
    with pytest.raises(ConfigError, match="cannot be renamed"):
        library.rename_collection("default", "main")
    assert library.stats().documents == 3


@pytest.mark.parametrize("name", ["", " ", "../hr", "a b", "-x", "x" * 65, "hr/eng", None])
def test_a_bad_collection_name_says_what_a_name_may_hold(name):
    with pytest.raises(ConfigError, match="letters"):
        check_name(name)


def test_writing_to_a_missing_collection_without_creating_it_is_an_error(index_dir, embedder, docs):
    with IndexWriter(index_dir, embedder, collection="new", create_collection=False) as writer:
        plan = writer.plan([docs])  # plans as an empty collection
        assert len(plan.add) == 3
        with pytest.raises(CollectionNotFoundError, match="'new'"):
            writer.apply(plan)
        assert writer.store.collection("new") is None


def downgrade_to_version_1(index_dir: Path) -> None:
    """Make a database as an index made before collections had it: no collections table,
    a documents table whose path is unique, schema version 0."""
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.executescript(
            """
            CREATE TABLE documents_v1 (
                id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
                mtime REAL NOT NULL, format TEXT NOT NULL DEFAULT '',
                language TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
                pages INTEGER, status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
                error TEXT NOT NULL DEFAULT '', warnings TEXT NOT NULL DEFAULT '[]',
                chunk_count INTEGER NOT NULL DEFAULT 0, ingested_at TEXT NOT NULL);
            INSERT INTO documents_v1 SELECT id, path, name, sha256, size, mtime, format,
                language, title, pages, status, error, warnings, chunk_count, ingested_at
                FROM documents;
            DROP TABLE documents;
            ALTER TABLE documents_v1 RENAME TO documents;
            DROP TABLE collections;
            PRAGMA user_version = 0;
            """
        )


def test_an_index_made_before_collections_opens_as_default_with_nothing_re_embedded(
    index_dir, docs
):
    embedder = CountingEmbedder()
    ingest_paths([docs], index_dir, embedder)
    with Retriever.open(index_dir, embedder) as retriever:
        before = [(h.chunk_id, h.source) for h in retriever.search("holiday days", k=5)]
    downgrade_to_version_1(index_dir)
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        chunks_before = conn.execute("SELECT id, doc_id, vector FROM chunks").fetchall()

    with Retriever.open(index_dir, embedder) as retriever:
        after = retriever.search("holiday days", k=5)
        assert [(h.chunk_id, h.source) for h in after] == before
        assert {h.collection for h in after} == {"default"}
    embedded = embedder.embedded
    report = ingest_paths([docs], index_dir, embedder)
    assert len(report.unchanged) == 3 and report.embedded == 0
    assert embedder.embedded == embedded
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT id, doc_id, vector FROM chunks").fetchall() == chunks_before
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_a_newer_database_is_refused(index_dir, embedder, docs):
    ingest_paths([docs], index_dir, embedder)
    with sqlite3.connect(index_dir / DB_NAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(IndexMismatchError, match="newer version"):
        Store(index_dir)


def test_a_rebuild_keeps_every_collection_its_id_and_grants(two_collections, index_dir, embedder):
    library = Library(index_dir, embedder=embedder)
    temporary = library.create_collection("temporary")
    library.delete_collection("temporary")  # the highest id so far, now unused
    ids = {c.name: c.id for c in library.collections()}
    library.close()
    accounts = Accounts(index_dir)
    accounts.add("rita", "reader", "tests", password="a long enough password")
    accounts.grant("rita", temporary.id, "temporary", "tests")  # a grant left behind
    accounts.grant("rita", ids["hr"], "hr", "tests")
    new = HashEmbedder(64)
    rebuild(index_dir, embedder=new)
    library = Library(index_dir, embedder=new)
    assert {c.name: c.id for c in library.collections()} == ids  # grants name these ids
    # A deleted collection's id is never given out again, even after a rebuild, so an
    # old grant can never come to open a new collection.
    assert library.create_collection("fresh").id > temporary.id
    rita = accounts.access_of("rita")
    assert [c.name for c in library.as_caller(rita).collections()] == ["hr"]
    library.close()
    accounts.close()
    with Retriever.open(index_dir, new) as retriever:
        assert sources(retriever.search("salaries paid", k=5, collection="hr")) == {"payroll.md"}
        assert sources(retriever.search("release train", k=5, collection="eng")) == {"release.md"}
        names = [(c.name, c.documents) for c in retriever.collections()]
    assert names == [("default", 1), ("eng", 1), ("fresh", 0), ("hr", 1)]


def test_the_command_lines_take_a_collection(tmp_path, docs):
    cwd = tmp_path.resolve()
    index = str(cwd / "idx")
    result = cli(cwd, "rag.ingest", str(docs), "--index", index, "--collection", "policies")
    assert result.returncode == 0, result.stderr
    assert "created collection policies" in result.stdout
    assert "collection policies of index" in result.stdout

    listed = cli(cwd, "rag.collections", "--index", index, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == f"{'default':24} 0 documents, 0 passages"
    assert lines[1].startswith(f"{'policies':24} 3 documents, ")
    found = cli(cwd, "rag.search", "dieta diaria", "--index", index, "--collection", "policies")
    assert found.returncode == 0 and "policies: docs/politica.md" in found.stdout
    nothing = cli(cwd, "rag.search", "dieta diaria", "--index", index, "--collection", "default")
    assert nothing.stdout.strip() == "no matching passages"
    missing = cli(cwd, "rag.search", "dieta", "--index", index, "--collection", "hr")
    assert_clean_error(missing, 2, "no collection named 'hr'", "default, policies")

    refused = cli(cwd, "rag.collections", "--index", index, "delete", "policies")
    assert refused.returncode == 2 and "--yes" in refused.stdout
    deleted = cli(cwd, "rag.collections", "--index", index, "delete", "policies", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert "file kept" in deleted.stdout and (docs / "faq.txt").exists()
    bad = cli(cwd, "rag.collections", "--index", index, "create", "a/b")
    assert_clean_error(bad, 2, "collection name 'a/b' is not valid")


def test_a_new_collection_never_shares_a_renamed_ones_folder(tmp_path, index_dir, embedder):
    library = Library(index_dir, docs_dir=tmp_path / "uploads", embedder=embedder)
    first = library.create_collection("legal")
    library.rename_collection("legal", "contracts")  # keeps collections/legal
    second = library.create_collection("legal")
    assert first.docs_dir != second.docs_dir
    assert Path(second.docs_dir).name == "legal-2"
