"""`python -m rag.ingest PATH... [--index DIR] [--collection NAME]`: bring a collection of an
index up to date with some folders (the collection is created if it is new).

`--rebuild [PATH...]` builds the whole index again beside the live one (with RAG_EMBEDDER
or the default embedder, and the default chunking), then switches to it in one step.

Exit codes: 0 all files ingested (or unchanged); 1 finished, but some files failed (each is
listed with its reason); 2 bad arguments, configuration, model or index; 3 another ingest
is writing to the same index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from rag.cli.common import EXIT_OK, EXIT_SOME_FAILED, display_path, run
from rag.config import default_index_dir
from rag.errors import ConfigError
from rag.index.layout import data_dir
from rag.index.manifest import read_manifest
from rag.index.rebuild import RebuildReport, rebuild
from rag.index.store import DEFAULT_COLLECTION
from rag.index.writer import IndexWriter, IngestReport, Plan, Progress, rebuild_vectors
from rag.text.embedding import BUNDLED_EMBEDDER_ID


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag.ingest",
        description="Ingest documents (PDF, DOCX, Markdown, HTML, text) into a search index. "
        "Unchanged files are skipped, changed files replaced, deleted files dropped.",
        epilog="exit codes: 0 ok; 1 some files failed; 2 usage or configuration error; "
        "3 another ingest holds the index",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders to ingest")
    p.add_argument(
        "--index",
        default=None,
        help=f"index directory (default: $RAG_INDEX_DIR or {default_index_dir()})",
    )
    p.add_argument(
        "--collection",
        default=DEFAULT_COLLECTION,
        metavar="NAME",
        help=f"the collection the files belong to, created if new (default: {DEFAULT_COLLECTION})",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="build the whole index again beside the live one (to change embedder or "
        "chunking), then switch to it; the old index answers until then. PATHs are optional: "
        "the files of the documents already indexed are read again",
    )
    p.add_argument(
        "--rebuild-vectors",
        action="store_true",
        help="empty the vector store (RAG_VECTOR_STORE) and fill it again from the "
        "database, embedding nothing: after switching stores, or if one was damaged",
    )
    p.add_argument("--json", action="store_true", help="print the plan or report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _print_plan(plan: Plan) -> None:
    for label, paths in (
        ("add", [f.path for f in plan.add]),
        ("update", [f.path for f in plan.update]),
        ("remove", plan.remove),
    ):
        for path in paths:
            print(f"{label:8} {display_path(path)}")
    for path, reason in plan.skipped:
        print(f"skip     {display_path(path)}: {reason}")
    print(
        f"plan: add {len(plan.add)} / update {len(plan.update)} / unchanged "
        f"{len(plan.unchanged)} / remove {len(plan.remove)} / skipped {len(plan.skipped)}"
    )


def _print_report(report: IngestReport, index_dir, collection: str, stats: dict) -> None:
    for path, reason in report.failed:
        print(f"failed   {display_path(path)}: {reason}")
    for path, reason in report.skipped:
        print(f"skipped  {display_path(path)}: {reason}")
    for path, warning in report.warnings:
        print(f"warning  {display_path(path)}: {warning}")
    print(
        f"added {len(report.added)} / updated {len(report.updated)} / unchanged "
        f"{len(report.unchanged)} / removed {len(report.removed)} / failed {len(report.failed)}"
    )
    print(
        f"{report.pages} pages, {report.chunks} chunks ({report.embedded} embedded) in "
        f"{report.seconds:.1f} s; collection {collection} of index {index_dir}: "
        f"{stats['documents']} documents, {stats['chunks']} chunks"
    )


class ProgressBar:
    """A progress bar over the bytes a plan will read, so its ETA weighs a 300-page PDF
    more than a memo; pages per second shown beside it."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bars: list[tqdm] = []

    def for_plan(self, label: str, plan: Plan) -> Progress | None:
        if not self.enabled or not plan.to_process:
            return None
        sizes = {source.path: source.size for source in plan.to_process}
        bar = tqdm(
            total=sum(sizes.values()),
            unit="B",
            unit_scale=True,
            desc=label,
            file=sys.stderr,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{remaining}{postfix}]",
        )
        self._bars.append(bar)

        def progress(done: int, total: int, path: str, pages: int, chunks: int) -> None:
            elapsed = max(bar.format_dict["elapsed"], 1e-9)
            bar.set_postfix_str(
                f"{done}/{total} files, {pages} pages, {pages / elapsed:.1f} pages/s", refresh=False
            )
            bar.update(sizes.get(path, 0))
            if done == total:
                bar.close()

        return progress

    def close(self) -> None:
        for bar in self._bars:
            bar.close()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.rebuild_vectors:
        if args.paths or args.rebuild or args.dry_run:
            raise ConfigError("--rebuild-vectors takes no PATH, --rebuild or --dry-run")
        result = rebuild_vectors(args.index)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(
                f"{result['vector_store']} vector store rebuilt from the database: "
                f"{result['vectors']} vectors in {result['seconds']} s"
            )
        return EXIT_OK
    if not args.paths and not args.rebuild:
        raise ConfigError("name the files or folders to ingest (or use --rebuild)")
    for path in args.paths:  # before the index is created or a model loaded
        if not Path(path).exists():
            raise ConfigError(f"{path}: no such file or directory; check the path and try again")
    bars = ProgressBar(enabled=not (args.quiet or args.json))
    if args.rebuild:
        if args.dry_run:
            raise ConfigError("--dry-run does not apply to --rebuild: leave one of them out")
        try:
            result = rebuild(
                args.index, args.paths, progress=bars.for_plan, collection=args.collection
            )
        finally:
            bars.close()
        if args.json:
            print(json.dumps(result.as_dict(), indent=2))
        else:
            _print_rebuild(result, args.index or default_index_dir())
        return EXIT_SOME_FAILED if result.failed else EXIT_OK
    # A dry run names a new collection without creating it: it changes nothing.
    with IndexWriter(
        args.index, collection=args.collection, create_collection=not args.dry_run
    ) as writer:
        if writer.created_collection and not args.json:
            print(f"created collection {writer.collection_name}")
        plan = writer.plan(args.paths)
        if args.dry_run:
            if args.json:
                print(json.dumps(plan.as_dict(), indent=2))
            else:
                _print_plan(plan)
            return EXIT_OK
        try:
            report = writer.apply(plan, bars.for_plan("ingest", plan))
        finally:
            bars.close()
        stats = writer.store.stats([writer.collection_id])
        embedder_id = writer.manifest.embedder_id
    if args.json:
        summary = {"collection": writer.collection_name, "created": writer.created_collection}
        print(json.dumps({**report.as_dict(), **summary, "index": stats}, indent=2))
    else:
        _print_report(report, writer.index_dir, writer.collection_name, stats)
        _suggest_rebuild(embedder_id, writer.index_dir)
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


def _suggest_rebuild(embedder_id: str, index_dir: Path) -> None:
    """An index made with the English-only embedder of earlier versions keeps working;
    say once per run how to move it to the multilingual default."""
    if embedder_id == BUNDLED_EMBEDDER_ID and not os.environ.get("RAG_EMBEDDER"):
        print(
            f"note: this index uses {embedder_id} (English only); the default is now the "
            "multilingual multilingual-e5-small. To switch, run: python -m rag.ingest "
            f"--rebuild --index {index_dir}"
        )


def _print_rebuild(result: RebuildReport, index_dir) -> None:
    for label, report in (("", result.build), ("(catch-up) ", result.catch_up)):
        for path, reason in report.failed:
            print(f"failed   {label}{display_path(path)}: {reason}")
        for path, warning in report.warnings:
            print(f"warning  {label}{display_path(path)}: {warning}")
    for path in result.missing:
        print(f"missing  {display_path(path)}: the file is gone, so it is not in the new index")
    build, catch_up = result.build, result.catch_up
    stats = read_manifest(data_dir(Path(index_dir)))
    print(
        f"rebuilt {index_dir} with {result.new_embedder} (was {result.old_embedder})"
        + (", resuming an unfinished rebuild" if result.resumed else "")
        + f": {build.pages + catch_up.pages} pages, {build.chunks + catch_up.chunks} chunks "
        f"in {result.seconds:.1f} s; {len(build.failed) + len(catch_up.failed)} failed, "
        f"{len(result.missing)} missing; now live: {result.generation} "
        f"({stats.embedder_id}, chunks of {stats.chunker.max_tokens} tokens)"
    )


if __name__ == "__main__":
    run(main)
