"""`python -m rag.ingest PATH... [--index DIR]`: bring an index up to date with some folders.

Exit codes: 0 all files ingested (or unchanged); 1 finished, but some files failed (each is
listed with its reason); 2 bad arguments, configuration, model or index; 3 another ingest
is writing to the same index.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from rag.cli.common import EXIT_OK, EXIT_SOME_FAILED, display_path, run
from rag.config import default_index_dir
from rag.errors import ConfigError
from rag.index.writer import IndexWriter, IngestReport, Plan


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag.ingest",
        description="Ingest documents (PDF, DOCX, Markdown, HTML, text) into a search index. "
        "Unchanged files are skipped, changed files replaced, deleted files dropped.",
        epilog="exit codes: 0 ok; 1 some files failed; 2 usage or configuration error; "
        "3 another ingest holds the index",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest")
    p.add_argument(
        "--index",
        default=None,
        help=f"index directory (default: $RAG_INDEX_DIR or {default_index_dir()})",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
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


def _print_report(report: IngestReport, index_dir, stats: dict) -> None:
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
        f"{report.seconds:.1f} s; index {index_dir}: {stats['documents']} documents, "
        f"{stats['chunks']} chunks"
    )


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    for path in args.paths:  # before the index is created or a model loaded
        if not Path(path).exists():
            raise ConfigError(f"{path}: no such file or directory; check the path and try again")
    with IndexWriter(args.index) as writer:
        plan = writer.plan(args.paths)
        if args.dry_run:
            if args.json:
                print(json.dumps(plan.as_dict(), indent=2))
            else:
                _print_plan(plan)
            return EXIT_OK
        show = not (args.quiet or args.json)
        with tqdm(
            total=len(plan.to_process), unit="file", disable=not show, file=sys.stderr
        ) as bar:

            def progress(done: int, total: int, path: str, pages: int, chunks: int) -> None:
                bar.set_postfix(pages=pages, chunks=chunks, refresh=False)
                bar.update(1)

            report = writer.apply(plan, progress)
        stats = writer.store.stats()
    if args.json:
        print(json.dumps({**report.as_dict(), "index": stats}, indent=2))
    else:
        _print_report(report, writer.index_dir, stats)
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


if __name__ == "__main__":
    run(main)
