"""`python -m rag.ask "question" [--index DIR] [--k N] [--json]`: answer from the documents.

The answer streams as the model writes it; then come the sentences no source supports
(with what the source does say) and any citation corrected, then its sources: the ones
it cited first, then the rest it was given. With `--json` the whole Answer, sentence
checks included, is printed once it is complete.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from rag.answering.assistant import AnswerSettings, default_assistant
from rag.answering.second_look import withdrawal_note
from rag.cli.common import (
    EXIT_OK,
    access_of,
    add_collection_argument,
    add_user_argument,
    display_path,
    run,
)
from rag.config import default_index_dir


def _parser() -> argparse.ArgumentParser:
    defaults = AnswerSettings()
    p = argparse.ArgumentParser(prog="python -m rag.ask", description=__doc__.split("\n")[0])
    p.add_argument("question")
    p.add_argument("--index", default=None, help=f"index directory (default {default_index_dir()})")
    p.add_argument(
        "--k", type=int, default=defaults.k, help=f"passages given to the model ({defaults.k})"
    )
    p.add_argument("--source", default=None, help="only files matching this glob, e.g. '*.pdf'")
    add_collection_argument(p)
    add_user_argument(p)
    p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    access = access_of(args.index, args.user)
    stream = default_assistant(args.index).stream(
        args.question, k=args.k, source=args.source, collection=args.collection, access=access
    )
    if args.json:
        print(json.dumps(stream.answer.as_dict(), indent=2, ensure_ascii=False))
        return EXIT_OK
    for piece in stream:
        print(piece, end="", flush=True)
    print()
    answer = stream.answer
    if answer.revision:
        # What was printed is the model's first answer; the checked one replaces it.
        print(withdrawal_note(answer.revision, answer.text).lstrip("\n"))
    _print_checks(answer)
    _print_sources(answer)
    if answer.timings.first_token is not None:
        t = answer.timings
        rate = f", {t.tokens_per_second:.0f} tokens/s" if t.tokens_per_second else ""
        print(
            f"\n({t.total:.1f} s: retrieval {t.retrieval:.2f} s, first token "
            f"{t.first_token:.2f} s{rate})",
            file=sys.stderr,
        )
    return EXIT_OK


def _print_checks(answer) -> None:
    """The sentences no source supports, each with what its source does say, and the
    citations that were corrected or added (the streamed text still shows the model's own)."""
    by_number = {s.number: s for s in answer.sources}
    lines = []
    for claim in answer.claims:
        where = ""
        if claim.source_number in by_number:
            where = f" [{claim.source_number}] {by_number[claim.source_number].label}"
        if not claim.supported:
            said = (
                f'the source says: "{claim.quote}"{where}' if claim.quote else "no source says so"
            )
            lines.append(f'unsupported: "{claim.sentence}" — {said}')
        elif claim.corrected_from:
            was = "".join(f"[{n}]" for n in claim.corrected_from)
            lines.append(
                f'citation corrected from {was} to [{claim.source_number}]: "{claim.sentence}"'
            )
        elif claim.citation_added:
            lines.append(f'citation [{claim.source_number}] added: "{claim.sentence}"')
    if lines:
        print("\n" + "\n".join(lines))


def _print_sources(answer) -> None:
    if not answer.sources:
        return
    cited = answer.cited_sources
    rest = [s for s in answer.sources if s not in cited]
    if answer.declined:
        title = "Closest passages:"
    elif cited:
        title = "Sources:"
    else:
        title = "Sources consulted (the answer cites none):"
    print(f"\n{title}")
    for source in [*cited, *rest]:
        where = display_path(source.source) + (f", page {source.page}" if source.page else "")
        heading = f" — {source.heading}" if source.heading else ""
        mark = "" if source in cited or not cited else " (not cited)"
        print(f"[{source.number}] {where}{heading}  (score {source.score:.3f}){mark}")
        snippet = textwrap.shorten(" ".join(source.text.split()), 200, placeholder=" …")
        print(textwrap.indent(snippet, "    "))


if __name__ == "__main__":
    run(main)
