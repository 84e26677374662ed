"""The Streamlit app: chat with your documents, see the sources, manage the library.

UI only. Answers come from `rag.answering.assistant.Assistant`, documents are managed by
`rag.library`. Document text, file names and model output are untrusted: they reach the
page only through `st.html` after `html.escape` (no Markdown is processed there, and the
only tags are this file's own), or through elements that render plain text (tables,
`st.text`). Messages passed to Markdown elements have every punctuation character escaped.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import streamlit as st

import ingest
from rag import RagError, Retriever
from rag.answering.answers import Answer, ClaimCheck, Source
from rag.answering.assistant import AnswerSettings, Assistant
from rag.cli.common import display_path
from rag.config import GeneratorSettings, configured_embedder_spec, default_index_dir
from rag.index.manifest import embedder_spec_for_index
from rag.index.store import DEFAULT_COLLECTION
from rag.library import (
    FileResult,
    Library,
    UploadError,
    default_docs_dir,
    format_size,
    progress_text,
    summarize,
)
from rag.llm import Generator, make_generator
from rag.text.embedding import BUNDLED_EMBEDDER_ID, Embedder, make_embedder
from rag.text.lexical import highlight_spans
from rag.types import ADMIN, EVERYTHING, ROLES, Access
from rag.users import Accounts, SignInError, User

SAMPLE_DOCS = Path(__file__).resolve().parent / "sample_docs"
REDRAW_SECONDS = 0.15  # how often a streamed answer is redrawn

st.set_page_config(page_title="ragdesk", page_icon="💬", layout="wide")

# One stylesheet for the app's own tags (a style-only st.html adds no element to the page).
st.html(
    """<style>
.rd-answer { white-space: pre-wrap; line-height: 1.6; }
.rd-cite { font-weight: 600; color: #1c64c4; }
.rd-declined { white-space: pre-wrap; border-left: 4px solid #d99a00;
  background: rgba(217, 154, 0, 0.12); padding: 0.6rem 0.8rem; border-radius: 0.3rem; }
.rd-card { border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.5rem;
  padding: 0.6rem 0.8rem; margin-bottom: 0.5rem; }
.rd-card-head { font-weight: 600; }
.rd-card-meta { font-size: 0.85rem; opacity: 0.75; }
.rd-passage { white-space: pre-wrap; font-size: 0.9rem; margin-top: 0.4rem;
  max-height: 16rem; overflow-y: auto; }
mark.rd-hit { background: #ffe979; color: inherit; padding: 0 0.1em; border-radius: 0.2em; }
mark.rd-unsupported { background: rgba(214, 69, 65, 0.16); color: inherit;
  text-decoration: underline wavy rgba(214, 69, 65, 0.8); text-underline-offset: 0.2em; }
.rd-flag { color: #c0392b; font-size: 0.8rem; font-weight: 600; white-space: nowrap; }
.rd-check { white-space: pre-wrap; font-size: 0.9rem; margin-top: 0.4rem;
  border-left: 3px solid rgba(214, 69, 65, 0.8); padding: 0.2rem 0.6rem; }
.rd-check.rd-corrected { border-left-color: #1c64c4; }
.rd-quote { font-style: italic; }
</style>"""
)


# -- configuration and shared resources --------------------------------------------------


@dataclass(frozen=True)
class Config:
    index_dir: str
    docs_dir: str
    embedder: str
    generator: GeneratorSettings


def read_config() -> Config:
    index_dir = default_index_dir()
    return Config(
        index_dir=str(index_dir),
        docs_dir=str(default_docs_dir(index_dir)),
        # The index's own embedder (or RAG_EMBEDDER): looked up on every run, so a rebuild
        # that changed it is picked up.
        embedder=embedder_spec_for_index(index_dir),
        generator=GeneratorSettings.from_env(),
    )


@st.cache_resource(show_spinner=False)
def load_embedder(spec: str) -> Embedder:
    """One embedding model per process, shared by search and ingestion."""
    return make_embedder(spec)


@st.cache_resource(show_spinner="Loading the search model…")
def load_retriever(index_dir: str, embedder_spec: str) -> Retriever:
    """Raises while there is no index, so the next run tries again (errors are not cached)."""
    retriever = Retriever.open(index_dir, load_embedder(embedder_spec))
    retriever.embedder.embed(["warm up"])  # load the model before the first question
    return retriever


@st.cache_resource(show_spinner=False)
def load_generator(settings: GeneratorSettings) -> Generator:
    """The answer model, loading in the background so the page shows at once; the first
    question waits for it. A load error is raised again by that question, and shown."""
    generator = make_generator(settings)
    warm_up = getattr(generator, "warm_up", None)
    if warm_up is not None:

        def load_quietly() -> None:
            try:
                warm_up()
            except Exception:  # noqa: BLE001 - reported when a question needs the model
                pass

        threading.Thread(target=load_quietly, name="answer-model-load", daemon=True).start()
    return generator


@st.cache_resource(show_spinner=False)
def load_assistant(config: Config) -> Assistant:
    return Assistant(
        load_retriever(config.index_dir, config.embedder), load_generator(config.generator)
    )


@st.cache_resource(show_spinner=False)
def load_library(index_dir: str, docs_dir: str, embedder_spec: str, collection: str) -> Library:
    return Library(index_dir, docs_dir, load_embedder(embedder_spec), collection=collection)


def library_of(config: Config, collection: str = DEFAULT_COLLECTION) -> Library:
    """The collection's documents as the signed-in person may see and change them."""
    library = load_library(config.index_dir, config.docs_dir, config.embedder, collection)
    return library.as_caller(CALLER.access, CALLER.accounts.audit)


def collection_names(config: Config) -> list[str]:
    """The index's collections, the default first (just it, before there is an index)."""
    return [c.name for c in library_of(config).collections()] or [DEFAULT_COLLECTION]


def chosen_collection(config: Config) -> str:
    """The collection the Documents page manages, picked in its sidebar."""
    names = collection_names(config)
    saved = remembered("collection", DEFAULT_COLLECTION)
    with st.sidebar:
        name = st.selectbox(
            "Collection",
            names,
            index=names.index(saved) if saved in names else 0,
            key="collection",
            help="Each collection has its own documents; manage them on the Collections page.",
        )
        if CALLER.access.is_admin and st.button(
            "Manage collections", icon=":material/folder_copy:"
        ):
            st.switch_page(collections)
    st.session_state["saved-collection"] = name
    return name


# -- people -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who this run of the page is for."""

    accounts: Accounts
    user: User | None = None
    access: Access = EVERYTHING


@st.cache_resource(show_spinner=False)
def load_accounts(index_dir: str) -> Accounts:
    """The index's people; on a first start, the admin, whose password is printed once
    in the terminal that started the app."""
    accounts = Accounts(index_dir)
    made = accounts.ensure_first_admin()
    if made is not None:
        name, one_time = made
        how = (
            f"one-time password: {one_time}  (you choose your own after signing in)"
            if one_time
            else "password: the one in RAG_ADMIN_PASSWORD"
        )
        print(f"\nragdesk first start: sign in as {name!r} with the {how}\n", flush=True)
    return accounts


def oidc_configured() -> bool:
    """Whether `.streamlit/secrets.toml` has an [auth] section for st.login."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, RuntimeError):  # no secrets file at all
        return False
    except Exception:  # noqa: BLE001 - a malformed secrets file: password sign-in still works
        return False


def signed_in_user(accounts: Accounts) -> User | None:
    """The person of this browser session, if signed in and still allowed in."""
    token = st.session_state.get("session_token")
    user = accounts.session_user(token)
    if user is None and token:
        st.session_state.pop("session_token", None)
        st.session_state["signed_out_because"] = (
            "Your session ended (it expired, or your account changed). Sign in again."
        )
    if user is None and oidc_configured() and getattr(st.user, "is_logged_in", False):
        email = st.user.get("email") or ""
        made = accounts.sign_in_verified(email, "oidc")
        if made is None:
            st.error(
                md_escape(
                    f"{email} has no account here yet: an admin adds it with "
                    f"python -m rag.users add {email} --sso --role reader"
                )
            )
            st.button("Sign out of the identity provider", on_click=st.logout)
            st.stop()
        user, st.session_state["session_token"] = made
    return user


def sign_in_page(accounts: Accounts) -> None:
    st.title("Sign in to ragdesk")
    reason = st.session_state.pop("signed_out_because", None)
    if reason:
        st.info(reason)
    with st.form("sign_in"):
        name = st.text_input("Name", max_chars=128)
        password = st.text_input("Password", type="password", max_chars=256)
        if st.form_submit_button("Sign in", type="primary"):
            try:
                _, st.session_state["session_token"] = accounts.sign_in(name, password)
            except SignInError as exc:
                st.error(md_escape(str(exc)))
            else:
                st.rerun()
    if oidc_configured():
        st.button("Sign in with your company account", on_click=st.login)
    st.caption(
        "First start: sign in as admin with the one-time password printed in the terminal "
        "that started the app (make run). Lost it? Run python -m rag.users reset admin "
        "there. Others get their account from an admin."
    )


def change_password_page(accounts: Accounts, user: User) -> None:
    st.title("Choose your password")
    st.info("You signed in with a one-time password: choose your own to go on.")
    with st.form("new_password"):
        current = st.text_input("One-time password", type="password")
        new = st.text_input("New password (at least 10 characters)", type="password")
        again = st.text_input("New password again", type="password")
        if st.form_submit_button("Save", type="primary"):
            try:
                if new != again:
                    raise SignInError("the two new passwords differ")
                accounts.change_own_password(user.name, current, new)
            except RagError as exc:
                st.error(md_escape(str(exc)))
            else:
                st.rerun()


def sign_out() -> None:
    CALLER.accounts.sign_out(st.session_state.pop("session_token", None))
    for key in list(st.session_state):
        del st.session_state[key]  # nothing of one person's session is left to the next
    if oidc_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()  # or the identity provider's sign-in would let them straight back in


def account_sidebar(user: User) -> None:
    with st.sidebar:
        st.caption(md_escape(f"Signed in as {user.name} ({user.role})"))
        st.button("Sign out", on_click=sign_out, icon=":material/logout:")


# -- rendering untrusted text ------------------------------------------------------------

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(text: str) -> str:
    """Text for a Markdown element, shown literally: every ASCII punctuation character is
    backslash-escaped, so no link, image, HTML tag, directive or formula can form."""
    return _PUNCTUATION.sub(r"\\\1", text)


def highlighted(text: str, question: str) -> str:
    """Escaped text with the question's words wrapped in <mark>."""
    parts, last = [], 0
    for start, end in sorted(highlight_spans(text, question)):
        if start < last:
            continue
        parts += [html.escape(text[last:start]), '<mark class="rd-hit">']
        parts += [html.escape(text[start:end]), "</mark>"]
        last = end
    parts.append(html.escape(text[last:]))
    return "".join(parts)


_CITATION = re.compile(r"\[(\d+)\]")


def escaped_with_citations(text: str) -> str:
    return _CITATION.sub(r'<span class="rd-cite">[\1]</span>', html.escape(text))


def answer_html(text: str, declined: bool = False, writing: bool = False) -> str:
    body = escaped_with_citations(text)
    if writing:
        body += "▌"
    return f'<div class="{"rd-declined" if declined else "rd-answer"}">{body}</div>'


def checked_answer_html(answer: Answer) -> str:
    """The finished answer with each sentence no source supports marked, and beneath it
    what the sources do say: the closest sentence to each unsupported one, and the
    supporting sentence wherever a wrong citation was corrected."""
    if answer.declined or not answer.claims:
        return answer_html(answer.text, declined=answer.declined)
    body, last = [], 0
    for claim in sorted(answer.unsupported_claims, key=lambda c: c.start):
        body.append(escaped_with_citations(answer.text[last : claim.start]))
        body.append(
            '<mark class="rd-unsupported" title="Not found in the sources">'
            f"{escaped_with_citations(answer.text[claim.start : claim.end])}</mark>"
            ' <span class="rd-flag">⚠ not in the sources</span>'
        )
        last = claim.end
    body.append(escaped_with_citations(answer.text[last:]))
    notes = [claim_note_html(claim, answer.sources) for claim in answer.claims]
    return f'<div class="rd-answer">{"".join(body)}</div>' + "".join(n for n in notes if n)


def claim_note_html(claim: ClaimCheck, sources: tuple[Source, ...]) -> str:
    """'⚠ “…” is not in the sources. The source says: “…” [1] file, page 2', or the note
    on a corrected citation; "" for a sentence that needs none."""
    if claim.supported and not claim.corrected_from:
        return ""
    source = next((s for s in sources if s.number == claim.source_number), None)
    said = "No source sentence comes close."
    if claim.quote and source is not None:
        said = (
            f'The source says: <span class="rd-quote">“{html.escape(claim.quote)}”</span> '
            f'<span class="rd-cite">[{source.number}]</span> {html.escape(source.label)}'
        )
    if not claim.supported:
        return (
            f'<div class="rd-check"><span class="rd-flag">⚠</span> '
            f"“{html.escape(claim.sentence)}” is not in the sources. {said}</div>"
        )
    was = "".join(f"[{n}]" for n in claim.corrected_from)
    return (
        f'<div class="rd-check rd-corrected">Citation corrected from {was} to '
        f"[{claim.source_number}]. {said}</div>"
    )


def card_html(source: Source, question: str, cited: bool) -> str:
    where = [f"collection {source.collection}"] if source.collection != DEFAULT_COLLECTION else []
    where += [f"page {source.page}"] if source.page else []
    where += [source.heading] if source.heading else []
    meta = f"relevance {source.score:.2f}" + (" · cited" if cited else "")
    if source.trimmed:
        meta += " · shortened to fit the model"
    return (
        '<div class="rd-card">'
        f'<div class="rd-card-head">[{source.number}] {html.escape(source.name)}</div>'
        f'<div class="rd-card-meta">{html.escape(" · ".join(where))}</div>'
        f'<div class="rd-card-meta">{html.escape(meta)}</div>'
        f'<div class="rd-passage">{highlighted(source.text, question)}</div>'
        "</div>"
    )


def show_sources(answer_sources: tuple[Source, ...], question: str, cited, expanded: bool):
    if not answer_sources:
        return
    with st.expander(f"Sources ({len(answer_sources)})", expanded=expanded):
        for source in answer_sources:
            st.html(card_html(source, question, source.number in cited))


def timing_caption(answer: Answer) -> str:
    t = answer.timings
    parts = [f"{t.total:.1f} s", f"search {t.retrieval * 1000:.0f} ms"]
    if t.first_token is not None:
        parts.append(f"first word {t.first_token:.1f} s")
    if t.tokens_per_second and t.generation - (t.first_token or 0) >= 0.05:
        parts.append(f"{t.tokens_per_second:.0f} tokens/s")
    return " · ".join(parts)


def local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


# -- chat ---------------------------------------------------------------------------------


@dataclass
class Turn:
    question: str
    answer: Answer | None = None
    error: str = ""


def conversation() -> list[Turn]:
    return st.session_state.setdefault("turns", [])


def new_conversation() -> None:
    st.session_state["turns"] = []


def history_messages(turns: list[Turn]) -> list[dict[str, str]]:
    messages = []
    for turn in turns:
        if turn.answer is not None:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.answer.text})
    return messages


# Why the answer written while streaming was replaced (rag.answering.second_look).
REVISION_NOTES = {
    "unsupported": "The model's first answer named a value no source holds",
    "restated": "The model's first answer only said the question back",
}


def revision_note(answer: Answer) -> str:
    why = REVISION_NOTES[answer.revision]
    if answer.decline_reason == "unconfirmed":
        return f"{why}, and so did its second try from the closest sentence: neither is shown."
    return f"{why}, so it was asked again from the sentence that answers; this one passed."


def show_answer(answer: Answer, expanded: bool) -> None:
    st.html(checked_answer_html(answer))
    if answer.revision:
        st.caption(revision_note(answer))
    if answer.declined and answer.sources:
        st.caption("The closest passages, which do not answer the question:")
    show_sources(answer.sources, answer.standalone_question, answer.citations, expanded)
    st.caption(timing_caption(answer))


def remembered(key: str, default):
    """A setting's last value. Streamlit forgets a widget's state on a page that does not
    draw it, so the chat settings are also kept under their own keys."""
    return st.session_state.get(f"saved-{key}", default)


def answer_settings_sidebar(config: Config, generator: Generator | None) -> dict:
    defaults = config.generator
    longest = max(64, min(1024, defaults.context_size // 2))
    with st.sidebar:
        st.button("New conversation", on_click=new_conversation, icon=":material/add:")
        st.subheader("Answer settings")
        chosen = {
            "k": st.slider("Passages to read", 1, 10, remembered("k", AnswerSettings().k), key="k"),
            "auto_weight": st.toggle(
                "Weigh meaning and keywords as measured",
                remembered("auto_weight", True),
                key="auto_weight",
                help="On: the mix measured best for this index's embedder and the question's "
                "language. Off: choose the weighting yourself.",
            ),
        }
        if not chosen["auto_weight"]:
            chosen["dense_weight"] = st.slider(
                "Meaning (1) or keywords (0)",
                0.0,
                1.0,
                remembered("dense_weight", 0.5),
                0.05,
                key="dense_weight",
            )
        chosen["temperature"] = st.slider(
            "Temperature",
            0.0,
            1.0,
            remembered("temperature", min(defaults.temperature, 1.0)),
            0.05,
            key="temperature",
        )
        chosen["max_tokens"] = st.slider(
            "Answer length (tokens)",
            32,
            longest,
            remembered("max_tokens", min(defaults.max_tokens, longest)),
            32,
            key="max_tokens",
        )
        with st.expander("Model and index"):
            st.text(model_info(config, generator))
    for key, value in chosen.items():
        st.session_state[f"saved-{key}"] = value
    return {
        "k": chosen["k"],
        "dense_weight": chosen.get("dense_weight"),
        "temperature": chosen["temperature"],
        "max_tokens": chosen["max_tokens"],
    }


def model_info(config: Config, generator: Generator | None) -> str:
    settings = config.generator
    lines = []
    if generator is not None:
        lines.append(f"Answer model: {generator.id}")
        if settings.url:
            lines.append(f"Server: {settings.url}")
        elif getattr(generator, "model_path", None):
            lines.append(f"Model file: {generator.model_path}")
        elif generator.id != "echo":
            lines.append("Model file: loading…")
        lines.append(f"Context: {generator.context_size} tokens")
        if not settings.url:
            lines.append(f"Threads: {getattr(generator, 'threads', settings.thread_count)}")
    lines.append(f"Embedder: {config.embedder}")
    lines.append(f"Index: {display_path(str(Path(config.index_dir).absolute()))}")
    lines.append(f"Documents folder: {display_path(config.docs_dir)}")
    return "\n".join(lines)


def asked_collections(names: list[str]) -> list[str] | None:
    """The collections the chat asks (None: every one), picked in its sidebar when the
    index has more than one."""
    if len(names) < 2:
        return None
    saved = [n for n in remembered("ask_in", []) if n in names]
    with st.sidebar:
        picked = st.multiselect(
            "Ask in",
            names,
            default=saved,
            key="ask_in",
            placeholder="All collections",
            help="The collections answers come from; none picked: all of them.",
        )
    st.session_state["saved-ask_in"] = picked
    return picked or None


def chat_page() -> None:
    config = read_config()
    records = {c.name: c for c in library_of(config).collections()}
    asked = asked_collections(list(records))
    counted = [records[n] for n in asked] if asked else list(records.values())
    readable = sum(c.documents - c.failed for c in counted)
    chunks = sum(c.chunks for c in counted)
    try:
        assistant = load_assistant(config) if readable else None
    except RagError as exc:
        answer_settings_sidebar(config, None)
        st.error(md_escape(str(exc)))
        return
    options = answer_settings_sidebar(config, assistant.generator if assistant else None)
    if asked:
        options["collection"] = asked
    options["access"] = CALLER.access
    with st.sidebar:
        st.caption(f"{readable} documents · {chunks} passages")
        if st.button("Manage documents", icon=":material/folder_open:"):
            st.switch_page(documents)

    st.title("Ask your documents")
    if not records and CALLER.access.readable is not None:
        st.info("No collection has been shared with you yet: ask an admin to grant you one.")
        st.chat_input("Ask a question about your documents", disabled=True)
        return
    if assistant is None:
        st.info(
            "No readable documents yet"
            + (" in the collections picked" if asked else "")
            + ". Add some on the Documents page (upload files, or load the sample documents), "
            "then ask away."
        )
        if st.button("Go to Documents", type="primary"):
            st.switch_page(documents)
        st.chat_input("Ask a question about your documents", disabled=True)
        return

    turns = conversation()
    for n, turn in enumerate(turns):
        with st.chat_message("user"):
            st.text(turn.question)
        with st.chat_message("assistant"):
            if turn.answer is not None:
                show_answer(turn.answer, expanded=n == len(turns) - 1)
            else:
                st.error(md_escape(turn.error))

    question = st.chat_input("Ask a question about your documents")
    if not question or not question.strip():
        return
    turn = Turn(question.strip())
    history = history_messages(turns)
    turns.append(turn)
    with st.chat_message("user"):
        st.text(turn.question)
    with st.chat_message("assistant"):
        try:
            CALLER.accounts.audit.question(
                CALLER.access.user, turn.question, options.get("collection")
            )
            turn.answer = stream_answer(assistant, turn.question, history, options)
        except RagError as exc:
            turn.error = str(exc)
            st.error(md_escape(turn.error))


def stream_answer(assistant: Assistant, question: str, history, options: dict) -> Answer:
    with st.spinner("Searching your documents…"):
        stream = assistant.stream(question, history, **options)
    slot = st.empty()
    slot.html(answer_html("", declined=stream.declined, writing=True))
    # The sources are known before the first word: show them while the answer is written.
    show_sources(stream.sources, stream.standalone_question, (), expanded=True)
    text, shown = "", 0.0
    for piece in stream:
        text += piece
        # A redraw per piece would cost the browser more than the model on a small CPU.
        if time.monotonic() - shown >= REDRAW_SECONDS:
            slot.html(answer_html(text, declined=stream.declined, writing=True))
            shown = time.monotonic()
    answer = stream.answer
    slot.html(checked_answer_html(answer))
    if answer.revision:
        st.caption(revision_note(answer))
    if answer.declined and answer.sources:
        st.caption("The closest passages, which do not answer the question, are listed above.")
    st.caption(timing_caption(answer))
    return answer


# -- documents ----------------------------------------------------------------------------


def show_results(results: list[FileResult]) -> None:
    rows = [
        {
            "File": r.name,
            "Result": r.status,
            "Pages": r.pages or None,
            "Passages": r.chunks,
            "Details": r.detail,
        }
        for r in results
    ]
    st.dataframe(rows, hide_index=True, width="stretch")


def run_ingest(label: str, work) -> None:
    """Run an ingest with a progress bar and a line per file; keep the results to show."""
    bar = st.progress(0.0, text=md_escape(label))
    lines = st.container()
    started = time.perf_counter()
    pages = 0

    def progress(done: int, total: int, result: FileResult) -> None:
        nonlocal pages
        pages += result.pages
        status = progress_text(done, total, pages, time.perf_counter() - started)
        bar.progress(done / total, text=md_escape(f"{label}: {status}"))
        with lines:
            st.text(
                f"{result.name}: {result.status}" + (f" ({result.detail})" if result.detail else "")
            )

    try:
        results = work(progress)
    except RagError as exc:
        st.session_state["ingest_notice"] = ("error", str(exc), [])
    else:
        st.session_state["ingest_notice"] = ("done", summarize(results), results)
    st.session_state["uploader"] = st.session_state.get("uploader", 0) + 1
    st.rerun()


def upload_section(library: Library) -> None:
    limit_mb = library.max_upload_bytes / 2**20
    types = [s.lstrip(".") for s in ingest.SUPPORTED_SUFFIXES]
    files = st.file_uploader(
        "Add documents",
        type=types,
        accept_multiple_files=True,
        max_upload_size=max(1, math.ceil(limit_mb)),
        key=f"uploader-{st.session_state.get('uploader', 0)}",
        help=f"Up to {limit_mb:g} MB per file. Several files can be added at once.",
    )
    if not files:
        return
    accepted, refused = [], []
    for file in files:
        try:
            library.check_upload(file.name, file.size)
            accepted.append(file)
        except UploadError as exc:
            refused.append(str(exc))
    for reason in refused:
        st.error(md_escape(reason))
    if accepted and st.button(
        f"Add {len(accepted)} file{'s' * (len(accepted) != 1)} to the library", type="primary"
    ):

        def work(progress):
            saved = [library.save_upload(f.name, f.getvalue()) for f in accepted]
            return library.ingest_files(saved, progress)

        run_ingest(f"Ingesting {len(accepted)} files", work)


def documents_table(library: Library, writable: bool) -> None:
    docs = library.documents()
    rows = [
        {
            "Name": Path(d.path).name,
            "Type": d.format,
            "Pages": d.pages,
            "Passages": d.chunk_count,
            "Status": "ok" if d.status == "ok" else f"failed: {d.error}",
            # What the reader noticed: pages read by OCR, rows or messages left out, ...
            "Notes": "; ".join(d.warnings),
            "Ingested": local_time(d.ingested_at),
            "Size": format_size(d.size),
            "Folder": "documents folder"
            if library.is_managed(d.path)
            else display_path(str(Path(d.path).parent)),
        }
        for d in docs
    ]
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        column_config={
            "Status": st.column_config.TextColumn(width="medium"),
            "Notes": st.column_config.TextColumn(width="medium"),
        },
    )
    labels = {
        d.path: f"{Path(d.path).name} ({display_path(str(Path(d.path).parent))})" for d in docs
    }
    download_section(library, docs, labels)
    if not writable:
        return
    chosen = st.multiselect(
        "Select documents to re-ingest or delete",
        list(labels),
        format_func=labels.get,
        key="chosen",
    )
    left, right, _ = st.columns([1, 1, 3])
    if left.button("Re-ingest", disabled=not chosen, icon=":material/refresh:"):
        run_ingest(
            f"Re-ingesting {len(chosen)} files",
            lambda progress: library.ingest_files(chosen, progress, force=True),
        )
    with right.popover("Delete", disabled=not chosen, icon=":material/delete:"):
        managed = sum(library.is_managed(p) for p in chosen)
        st.text(
            f"Remove {len(chosen)} document(s) from the index"
            + (f" and delete {managed} uploaded file(s)" if managed else "")
            + "? Answers stop using them at once."
        )
        if st.button("Delete", type="primary", key="confirm_delete"):
            try:
                results = [library.delete(p) for p in chosen]
            except RagError as exc:
                st.session_state["ingest_notice"] = ("error", str(exc), [])
            else:
                st.session_state["ingest_notice"] = ("done", summarize(results), results)
            st.session_state.pop("chosen", None)
            st.rerun()


def can_change(library: Library) -> bool:
    """Whether the signed-in person may change this collection's documents."""
    record = next((c for c in library.collections() if c.name == library.collection), None)
    if record is None:
        return library.access.is_admin  # an admin's first ingest makes the index
    return library.access.can_write(record.id)


def download_section(library: Library, docs, labels: dict[str, str]) -> None:
    by_path = {d.path: d for d in docs if d.status == "ok"}
    if not by_path:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    picked = left.selectbox(
        "Download a document", list(by_path), format_func=labels.get, key="to_download"
    )
    doc = by_path[picked]
    right.download_button(
        "Download",
        # Read only when clicked, and recorded in the audit trail as a download then.
        data=lambda: library.document_file(doc.id).read_bytes(),
        file_name=Path(doc.path).name,
        # Always a download, never a page the browser would render.
        mime="application/octet-stream",
        icon=":material/download:",
        on_click="ignore",
        disabled=not Path(doc.path).is_file(),
    )


def stats_section(library: Library) -> None:
    stats = library.stats()
    a, b, c, d = st.columns(4)
    a.metric("Documents", stats.documents)
    b.metric("Passages", stats.chunks)
    c.metric("Pages", stats.pages)
    d.metric("Failed", stats.failed)
    formats = ", ".join(f"{n} {kind}" for kind, n in stats.formats.items())
    st.text(
        f"Formats: {formats or 'none'}\n"
        f"Documents on disk: {stats.document_bytes / 2**20:.1f} MB"
        + (f"; index on disk: {stats.index_bytes / 2**20:.1f} MB" if stats.index_bytes else "")
        + "\n"
        f"Embedder: {stats.embedder} ({stats.dimension} dimensions); passages of up to "
        f"{stats.chunk_tokens} tokens, {stats.overlap_tokens} overlapping\n"
        f"Last ingest: {local_time(stats.last_ingested) if stats.last_ingested else 'never'}"
    )
    if stats.embedder == BUNDLED_EMBEDDER_ID and not configured_embedder_spec():
        st.info(
            "This index was built with all-MiniLM-L6-v2, which reads English only. The "
            "default is now the multilingual multilingual-e5-small; to switch, run "
            "`python -m rag.ingest --rebuild` on this index. It keeps answering meanwhile."
        )


def documents_page() -> None:
    config = read_config()
    collection = chosen_collection(config)
    library = library_of(config, collection)
    title = "Documents" if collection == DEFAULT_COLLECTION else f"Documents: {collection}"
    st.title(md_escape(title))

    notice = st.session_state.pop("ingest_notice", None)
    if notice:
        kind, message, results = notice
        if kind == "error":
            st.error(md_escape(message))
        elif any(not r.ok for r in results):
            st.warning(md_escape(message))
        else:
            st.success(md_escape(message))
        if results:
            show_results(results)

    stats = library.stats()
    writable = can_change(library)
    if not writable:
        st.caption("You can read and download this collection's documents; an editor changes them.")
    if not stats.documents and writable:
        st.info(
            ("The library" if collection == DEFAULT_COLLECTION else "This collection")
            + " is empty. Upload files below, or start with the sample documents "
            "(a fictional company's handbook, policies and FAQ, in English and Spanish). "
            "Whole folders can be added from a terminal with `python -m rag.ingest FOLDER "
            "--collection NAME`."
        )
        if SAMPLE_DOCS.is_dir() and st.button("Load the sample documents", type="primary"):
            run_ingest(
                "Ingesting the sample documents",
                lambda progress: library.ingest_folder(SAMPLE_DOCS, progress),
            )

    if writable:
        upload_section(library)
    if stats.documents:
        st.subheader("In the library")
        documents_table(library, writable)
        st.subheader("Index")
        stats_section(library)
    if not writable:
        return
    with st.expander("Documents folder"):
        st.text(
            f"Uploads are saved in {display_path(str(library.docs_dir))}. Files copied there "
            "directly are picked up by a re-scan; files removed from it are dropped."
        )
        if st.button("Re-scan the documents folder", icon=":material/sync:"):
            library.docs_dir.mkdir(parents=True, exist_ok=True)
            run_ingest(
                "Scanning the documents folder",
                lambda progress: library.ingest_folder(library.docs_dir, progress),
            )


# -- collections --------------------------------------------------------------------------


def page_action(notice: str, work, done: str, detail=lambda result: "") -> None:
    """Run a change from a page; keep its outcome (`done` and the detail of its result,
    or the error) under `notice`, to show after the rerun."""
    try:
        result = work()
    except RagError as exc:
        st.session_state[notice] = ("error", str(exc))
    else:
        st.session_state[notice] = ("done", done + detail(result))
    st.rerun()


def show_notice(notice: str) -> None:
    kept = st.session_state.pop(notice, None)
    if kept:
        (st.error if kept[0] == "error" else st.success)(md_escape(kept[1]))


def collection_action(work, done: str) -> None:
    page_action(
        "collections_notice",
        work,
        done,
        lambda result: f" ({summarize(result)})" if isinstance(result, list) else "",
    )


def collections_page() -> None:
    config = read_config()
    library = library_of(config)
    st.title("Collections")
    show_notice("collections_notice")
    records = library.collections()
    st.dataframe(
        [
            {
                "Collection": c.name,
                "Description": c.description,
                "Documents": c.documents,
                "Failed": c.failed,
                "Passages": c.chunks,
                "Created": local_time(c.created_at),
                # The default collection's folder is the configured one ('' in the index).
                "Folder": display_path(c.docs_dir or str(library.docs_dir)),
            }
            for c in records
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "A question is asked of the collections picked in the chat's sidebar (all of them "
        "when none is picked). Each collection's documents are managed on the Documents page."
    )
    with st.form("new_collection", clear_on_submit=True):
        st.subheader("New collection")
        name = st.text_input("Name", placeholder="hr-policies", max_chars=64)
        description = st.text_input("Description (optional)", max_chars=500)
        if st.form_submit_button("Create", type="primary"):
            collection_action(
                lambda: library.create_collection(name, description), f"Created {name.strip()}."
            )
    others = [c.name for c in records if c.name != DEFAULT_COLLECTION]
    if not others:
        return
    st.subheader("Change a collection")
    target = st.selectbox("Collection to change", others, key="collection_to_change")
    with st.form("rename_collection"):
        new_name = st.text_input("New name", max_chars=64)
        if st.form_submit_button("Rename"):
            collection_action(
                lambda: library.rename_collection(target, new_name),
                f"Renamed {target} to {new_name.strip()}.",
            )
    with st.popover("Delete", icon=":material/delete:"):
        count = next(c.documents for c in records if c.name == target)
        st.text(
            f"Delete the collection {target} and its {count} document(s)? Files in its "
            "documents folder are deleted too; answers stop using them at once."
        )
        if st.button("Delete", type="primary", key="confirm_delete_collection"):
            collection_action(lambda: library.delete_collection(target), f"Deleted {target}.")


# -- people and the audit trail (admins) ---------------------------------------------------


def people_action(work, done: str) -> None:
    page_action(
        "people_notice",
        work,
        done,
        lambda shown: f" One-time password, shown once: {shown}" if isinstance(shown, str) else "",
    )


def people_page() -> None:
    config = read_config()
    accounts, me = CALLER.accounts, CALLER.user.name
    accounts.require_admin(CALLER.access)  # the page is only listed for admins; checked anyway
    st.title("People")
    show_notice("people_notice")
    records = library_of(config).collections()
    names = {c.id: c.name for c in records}
    users = accounts.users()
    st.dataframe(
        [
            {
                "Name": u.name,
                "Role": u.role,
                "Collections": "all"
                if u.role == ADMIN
                else ", ".join(names[c] for c in u.collections if c in names) or "none",
                "Sign-in": "password" if u.has_password else "single sign-on",
                "Created": local_time(u.created_at),
            }
            for u in users
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Admins manage people and collections; editors upload and delete documents in "
        "their collections; readers ask and read in theirs."
    )
    with st.form("new_person", clear_on_submit=True):
        st.subheader("Add a person")
        name = st.text_input("Name (an e-mail address for single sign-on)", max_chars=128)
        role = st.selectbox("Role", ROLES, index=2)
        granted = st.multiselect("Collections", list(names), format_func=names.get)
        sso = st.checkbox("Signs in through the identity provider only (no password)")

        def add():
            user, one_time = accounts.add(name, role, me, sso_only=sso)
            for cid in granted:
                accounts.grant(user.name, cid, names[cid], me)
            return one_time

        if st.form_submit_button("Add", type="primary"):
            people_action(add, f"Added {name.strip()}.")
    if not users:
        return
    st.subheader("Change a person")
    target = accounts.find(st.selectbox("Person", [u.name for u in users], key="person_to_change"))
    with st.form("change_person"):
        new_role = st.selectbox("Role", ROLES, index=ROLES.index(target.role))
        new_grants = st.multiselect(
            "Collections (admins read and change all)",
            list(names),
            default=[c for c in target.collections if c in names],
            format_func=names.get,
        )

        def change():
            if new_role != target.role:
                accounts.set_role(target.name, new_role, me)
            for cid in set(new_grants) - set(target.collections):
                accounts.grant(target.name, cid, names[cid], me)
            for cid in set(target.collections) - set(new_grants):
                accounts.revoke(target.name, cid, names.get(cid, str(cid)), me)

        if st.form_submit_button("Save"):
            people_action(change, f"Saved {target.name}.")
    left, right, _ = st.columns([1, 1, 3])
    if left.button("Reset password", icon=":material/key:"):
        people_action(
            lambda: accounts.reset_password(target.name, me),
            f"Reset {target.name}'s password; their sessions are ended.",
        )
    with right.popover("Remove", icon=":material/person_remove:"):
        st.text(f"Remove {target.name}, their sessions and API keys?")
        if st.button("Remove", type="primary", key="confirm_remove_person"):
            people_action(lambda: accounts.remove(target.name, me), f"Removed {target.name}.")


def audit_page() -> None:
    CALLER.accounts.require_admin(CALLER.access)
    audit = CALLER.accounts.audit
    st.title("Audit trail")
    actions = audit.actions()
    left, right = st.columns(2)
    action = left.selectbox("Action", ["(all)", *actions], key="audit_action")
    actor = right.text_input("Who (exact name)", key="audit_actor", max_chars=128)
    entries = audit.entries(
        limit=500, actor=actor.strip(), action="" if action == "(all)" else action
    )
    st.dataframe(
        [
            {
                "When": local_time(e.at),
                "Who": e.actor,
                "Action": e.action,
                "Collection": e.collection,
                "Detail": json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
            }
            for e in entries
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        f"The newest {len(entries)} entries. Question text is kept only with "
        "RAG_AUDIT_QUESTION_TEXT=1. The whole trail as JSON lines:"
    )

    def export() -> str:
        out = io.StringIO()
        audit.export_jsonl(out)
        return out.getvalue()

    st.download_button(
        "Export (JSON lines)",
        data=export,  # the whole trail is read only when asked for
        file_name="ragdesk-audit.jsonl",
        mime="application/x-ndjson",
        icon=":material/download:",
        on_click="ignore",
    )


chat = st.Page(chat_page, title="Chat", icon=":material/chat:", default=True)
documents = st.Page(
    documents_page, title="Documents", icon=":material/folder:", url_path="documents"
)
collections = st.Page(
    collections_page, title="Collections", icon=":material/folder_copy:", url_path="collections"
)
people = st.Page(people_page, title="People", icon=":material/group:", url_path="people")
audit_trail = st.Page(audit_page, title="Audit", icon=":material/history:", url_path="audit")


def main() -> None:
    global CALLER
    accounts = load_accounts(read_config().index_dir)
    CALLER = Caller(accounts)
    user = signed_in_user(accounts)
    if user is None:
        st.navigation(
            [st.Page(lambda: sign_in_page(accounts), title="Sign in", url_path="sign-in")]
        ).run()
        return
    if user.must_change_password:
        st.navigation(
            [
                st.Page(
                    lambda: change_password_page(accounts, user),
                    title="Password",
                    url_path="password",
                )
            ]
        ).run()
        return
    CALLER = Caller(accounts, user, accounts.access_for(user))
    account_sidebar(user)
    pages = [chat, documents]
    if user.role == ADMIN:
        pages += [collections, people, audit_trail]
    st.navigation(pages).run()


CALLER: Caller  # set by main() for this run of the page
try:
    main()
except RagError as exc:  # a bad setting, or an index built with another embedder
    st.error(md_escape(str(exc)))
