"""The HTTP API: REST under /api, OpenAI-compatible chat under /v1, OpenAPI at /docs.

Everything goes through the same Library, Retriever and Assistant as the app and the
command lines. Every request but /api/health carries `Authorization: Bearer <key>`: a
key belongs to a person (rag.users.keys) and acts with their role and collections, which
the library and the retriever enforce. Each key has a request rate, and answers wait in
one bounded queue in front of the model.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.answering.assistant import Assistant
from rag.api import openai_chat
from rag.api.jobs import Jobs
from rag.api.limits import AnswerQueue, Busy, RateLimiter, Ticket
from rag.errors import AccessDeniedError, IndexNotFoundError, RagError
from rag.index import collections
from rag.index.collections import CollectionNotFoundError
from rag.library import DocumentNotFoundError, Library, UploadError, format_size
from rag.types import Access, DocumentRecord
from rag.users import Accounts, keys

MAX_QUESTION_CHARS = 2000
MAX_FILES_PER_UPLOAD = 20


@dataclass(frozen=True)
class ServerSettings:
    requests_per_minute: float = 120.0
    queue_waiting: int = 8  # answers queued behind the one being written


class Message(BaseModel):
    role: str = Field(pattern="^(user|assistant)$")
    content: str = Field(max_length=openai_chat.MAX_MESSAGE_CHARS)


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int = Field(5, ge=1, le=50)
    collections: list[str] | None = Field(None, min_length=1)
    source: str | None = Field(None, max_length=500)


class AnswerRequest(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    history: list[Message] = Field(default_factory=list, max_length=100)
    collections: list[str] | None = Field(None, min_length=1)
    source: str | None = Field(None, max_length=500)
    k: int | None = Field(None, ge=1, le=20)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    stream: bool = False


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=500)


class CollectionChange(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=500)


def error_body(message: str, field: str | None = None, kind: str = "invalid_request_error"):
    """The one error shape of every response: OpenAI's, which chat clients show."""
    return {"error": {"message": message, "type": kind, "param": field, "code": None}}


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def document_dict(doc: DocumentRecord, library: Library) -> dict:
    return {
        "id": doc.id,
        "name": Path(doc.path).name,
        "collection": doc.collection,
        "format": doc.format,
        "title": doc.title,
        "pages": doc.pages,
        "passages": doc.chunk_count,
        "status": doc.status,
        "error": doc.error,
        "warnings": list(doc.warnings),
        "size": doc.size,
        "ingested_at": doc.ingested_at,
        "uploaded": library.is_managed(doc.path),
    }


@dataclass(frozen=True)
class Caller:
    key: str  # the API key's name
    access: Access


def create_app(
    assistant: Assistant,
    library: Library,
    accounts: Accounts,
    settings: ServerSettings | None = None,
) -> FastAPI:
    """The API over `library`'s index, answering with `assistant` (whose retriever reads
    the same index), for the people of `accounts`."""
    settings = settings or ServerSettings()
    jobs = Jobs()
    queue = AnswerQueue(settings.queue_waiting)
    limiter = RateLimiter(settings.requests_per_minute)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.shutdown()  # a running ingest finishes its file; nothing is cut half way

    app = FastAPI(
        title="ragdesk",
        description="Grounded, cited answers from your documents: REST and OpenAI-compatible.",
        version="1",
        lifespan=lifespan,
    )
    app.state.jobs, app.state.queue = jobs, queue
    # The most one upload request may carry; a larger body is refused before it is read.
    largest_body = library.max_upload_bytes * MAX_FILES_PER_UPLOAD + 2**20

    @app.middleware("http")
    async def refuse_huge_bodies(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > largest_body:
            return JSONResponse(
                error_body(
                    f"the request body is over {format_size(largest_body)}: send at most "
                    f"{MAX_FILES_PER_UPLOAD} files of up to "
                    f"{format_size(library.max_upload_bytes)} each"
                ),
                status_code=413,
            )
        return await call_next(request)

    # -- errors -------------------------------------------------------------------------

    @app.exception_handler(RagError)
    def rag_error(request: Request, exc: RagError):
        not_found = CollectionNotFoundError | DocumentNotFoundError | IndexNotFoundError
        status = 404 if isinstance(exc, not_found) else 400
        if isinstance(exc, AccessDeniedError):
            status = 403
        return JSONResponse(error_body(str(exc)), status_code=status)

    @app.exception_handler(Busy)
    def busy(request: Request, exc: Busy):
        kind = "rate_limit_error" if exc.status == 429 else "server_busy"
        return JSONResponse(
            error_body(str(exc), kind=kind),
            status_code=exc.status,
            headers={"Retry-After": str(exc.retry_after)},
        )

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse(error_body(message), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"] if p != "body")
        return JSONResponse(
            error_body(f"{field or 'request'}: {first['msg']}", field=field), status_code=422
        )

    # -- who is asking ------------------------------------------------------------------

    def caller(request: Request) -> Caller:
        """The person behind the key presented, with their access; 401 without a live
        key. Rate-limited per key."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        found = keys.owner(accounts, token) if token else None
        if found is None:
            raise HTTPException(
                401,
                "a valid API key is needed: send 'Authorization: Bearer <key>' (an admin "
                "makes keys with `python -m rag.serve keys create NAME --user USER`)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key_name, user = found
        limiter.check(f"key:{key_name}")
        return Caller(key_name, accounts.access_for(user))

    def library_as(who: Caller) -> Library:
        return library.as_caller(who.access, accounts.audit)

    def library_for(collection: str, who: Caller) -> Library:
        """The collection's library as the caller sees it; 404 for a collection that does
        not exist or that the caller may not read, in the same words."""
        store = library.store()
        if store is None:
            raise IndexNotFoundError(f"there is no index at {library.index_dir} yet")
        name = collections.find(store, collection, who.access).name
        return library.in_collection(name).as_caller(who.access, accounts.audit)

    def document_in(collection: str, doc_id: int, who: Caller) -> tuple[Library, DocumentRecord]:
        scoped = library_for(collection, who)
        doc = scoped.document(doc_id)
        if doc is None:
            raise HTTPException(404, f"no document {doc_id} in the collection {collection!r}")
        return scoped, doc

    # -- service ------------------------------------------------------------------------

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "answers_queued": queue.load}

    # -- collections --------------------------------------------------------------------

    @app.get("/api/collections")
    def list_collections(who: Caller = Depends(caller)) -> dict:
        return {"collections": [_collection_dict(c) for c in library_as(who).collections()]}

    @app.post("/api/collections", status_code=201)
    def create_collection(body: CollectionCreate, who: Caller = Depends(caller)) -> dict:
        return _collection_dict(library_as(who).create_collection(body.name, body.description))

    @app.patch("/api/collections/{name}")
    def change_collection(name: str, body: CollectionChange, who: Caller = Depends(caller)):
        record, managed = None, library_as(who)
        if body.description is not None:
            record = managed.describe_collection(name, body.description)
        if body.name is not None:
            record = managed.rename_collection(name, body.name)
        if record is None:
            raise HTTPException(422, "give a new name, a description, or both")
        return _collection_dict(record)

    @app.delete("/api/collections/{name}")
    def delete_collection(name: str, who: Caller = Depends(caller)) -> dict:
        return {"removed": [asdict(r) for r in library_as(who).delete_collection(name)]}

    # -- documents ----------------------------------------------------------------------

    @app.get("/api/collections/{name}/documents")
    def list_documents(name: str, who: Caller = Depends(caller)) -> dict:
        scoped = library_for(name, who)
        return {"documents": [document_dict(d, scoped) for d in scoped.documents()]}

    @app.get("/api/collections/{name}/documents/{doc_id}")
    def get_document(name: str, doc_id: int, who: Caller = Depends(caller)) -> dict:
        scoped, doc = document_in(name, doc_id, who)
        return document_dict(doc, scoped)

    @app.get("/api/collections/{name}/documents/{doc_id}/file")
    def download(name: str, doc_id: int, who: Caller = Depends(caller)):
        path = library_for(name, who).document_file(doc_id)
        # Sent as a download, never as a page: an uploaded HTML file must not run here.
        return FileResponse(
            path,
            media_type="application/octet-stream",
            filename=path.name,
            headers={"X-Content-Type-Options": "nosniff"},
        )

    @app.post("/api/collections/{name}/documents", status_code=202)
    def upload(
        name: str, files: Annotated[list[UploadFile], File()], who: Caller = Depends(caller)
    ) -> dict:
        scoped = library_for(name, who)
        limit = scoped.max_upload_bytes
        if len(files) > MAX_FILES_PER_UPLOAD:
            raise HTTPException(413, f"at most {MAX_FILES_PER_UPLOAD} files per upload")
        saved = []
        for file in files:
            data = file.file.read(limit + 1)  # never more than the limit into memory
            if len(data) > limit:
                raise HTTPException(
                    413,
                    f"{file.filename}: over the {format_size(limit)} limit per file "
                    "(split it, or raise RAG_MAX_UPLOAD_MB)",
                )
            try:
                scoped.check_upload(file.filename or "", len(data))
            except UploadError as exc:
                raise HTTPException(400, str(exc)) from None
            saved.append((file.filename or "", data))
        paths = [scoped.save_upload(filename, data) for filename, data in saved]
        job = jobs.start(
            scoped.collection,
            f"upload of {len(paths)} file(s)",
            len(paths),
            lambda progress: scoped.ingest_files(paths, progress),
            owner=who.access.user,
        )
        return {"job": job.as_dict()}

    @app.post("/api/collections/{name}/documents/{doc_id}/reingest", status_code=202)
    def reingest(name: str, doc_id: int, who: Caller = Depends(caller)) -> dict:
        scoped, doc = document_in(name, doc_id, who)
        scoped.check_writable()  # refused now, not later inside the job
        job = jobs.start(
            scoped.collection,
            f"re-ingest of {Path(doc.path).name}",
            1,
            lambda progress: scoped.ingest_files([doc.path], progress, force=True),
            owner=who.access.user,
        )
        return {"job": job.as_dict()}

    @app.delete("/api/collections/{name}/documents/{doc_id}")
    def delete_document(name: str, doc_id: int, who: Caller = Depends(caller)) -> dict:
        scoped, doc = document_in(name, doc_id, who)
        return asdict(scoped.delete(doc.path))

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str, who: Caller = Depends(caller)) -> dict:
        job = jobs.get(job_id)
        if job is not None and job.owner != who.access.user and not who.access.is_admin:
            job = None  # someone else's: as if there were none
        if job is None:
            raise HTTPException(404, f"no ingest job {job_id!r} (finished jobs are kept a while)")
        return job.as_dict()

    # -- search and answers -------------------------------------------------------------

    @app.post("/api/search")
    def search(body: SearchRequest, who: Caller = Depends(caller)) -> dict:
        hits = assistant.retriever.search(
            body.query,
            k=body.k,
            source=body.source,
            collection=body.collections,
            access=who.access,
        )
        return {"hits": [h.as_dict() for h in hits]}

    @app.post("/api/answers")
    def answers(body: AnswerRequest, who: Caller = Depends(caller)):
        options = {
            "k": body.k,
            "temperature": body.temperature,
            "max_tokens": body.max_tokens,
            "source": body.source,
            "collection": body.collections,
            "access": who.access,
        }
        accounts.audit.question(who.access.user, body.question, body.collections)
        history = [m.model_dump() for m in body.history]
        ticket = queue.reserve()
        if not body.stream:
            with ticket:
                return assistant.answer(body.question, history, **options).as_dict()

        def events(ticket: Ticket) -> Iterator[str]:
            with ticket:
                try:
                    stream = assistant.stream(body.question, history, **options)
                    yield sse("sources", [s.as_dict() for s in stream.sources])
                    for piece in stream:
                        yield sse("token", {"text": piece})
                    yield sse("answer", stream.answer.as_dict())
                except RagError as exc:
                    yield sse("error", error_body(str(exc))["error"])
            yield sse("done", {})

        return _streamed(events(ticket), ticket)

    # -- OpenAI-compatible --------------------------------------------------------------

    @app.get("/v1/models")
    def models(who: Caller = Depends(caller)) -> dict:
        names = [c.name for c in library_as(who).collections()]
        return {
            "object": "list",
            "data": [
                {"id": model, "object": "model", "created": 0, "owned_by": "ragdesk"}
                for model in openai_chat.model_ids(names)
            ],
        }

    @app.post("/v1/chat/completions")
    def chat_completions(body: openai_chat.ChatRequest, who: Caller = Depends(caller)):
        try:
            collection = openai_chat.collection_of(body.model)
        except ValueError:
            return JSONResponse(
                error_body(
                    f"the model {body.model!r} does not exist: GET /v1/models lists them "
                    "('rag' asks every collection, 'rag:<collection>' one)",
                    field="model",
                ),
                status_code=404,
            )
        if collection is not None:
            library_for(collection, who)  # 404 for a collection unknown to the caller
        try:
            question, history = openai_chat.question_and_history(body)
        except ValueError as exc:
            return JSONResponse(error_body(str(exc), field="messages"), status_code=400)
        options = {
            "temperature": body.temperature,
            "max_tokens": body.max_completion_tokens or body.max_tokens,
            "collection": collection,
            "access": who.access,
        }
        accounts.audit.question(who.access.user, question, collection)
        ticket = queue.reserve()
        if not body.stream:
            with ticket:
                answer = assistant.answer(question, history, **options)
            return openai_chat.completion(body.model, answer)

        def chunks(ticket: Ticket) -> Iterator[str]:
            cid = openai_chat.completion_id()
            model = body.model
            with ticket:
                yield _data(openai_chat.chunk(cid, model, {"role": "assistant", "content": ""}))
                try:
                    stream = assistant.stream(question, history, **options)
                    for piece in stream:
                        yield _data(openai_chat.chunk(cid, model, {"content": piece}))
                    answer = stream.answer
                    tail = openai_chat.withdrawal_block(answer) + openai_chat.sources_block(answer)
                    if tail:
                        yield _data(openai_chat.chunk(cid, model, {"content": tail}))
                    yield _data(openai_chat.chunk(cid, model, {}, "stop", rag=answer.as_dict()))
                except RagError as exc:
                    yield _data(error_body(str(exc)))
            yield "data: [DONE]\n\n"

        return _streamed(chunks(ticket), ticket)

    return app


def _data(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _streamed(body: Iterator[str], ticket: Ticket) -> StreamingResponse:
    # A client that leaves before the body starts never runs the generator, so its
    # place in the queue is given back when the generator is collected.
    weakref.finalize(body, ticket.release)
    return StreamingResponse(
        body, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _collection_dict(record) -> dict:
    return {
        "name": record.name,
        "description": record.description,
        "documents": record.documents,
        "failed": record.failed,
        "passages": record.chunks,
        "created_at": record.created_at,
    }
