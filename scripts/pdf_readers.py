"""Compare pypdf and pypdfium2 as PDF text readers: speed per page and sameness of text.

For every PDF under the given folders (default: the sec10q and pdf-robustness eval sets):
- pypdf: what ingest/pdf.py did with it, open (with the loader's raised array cap) and
  `page.extract_text()` per page, timed in this process (pure Python: it can only raise);
- pypdfium2: open and `PdfTextPage.get_text_range()` per page, timed in a child
  process per file, so that a native crash is counted, not suffered;
- sameness: each page's text through ingest.pdf.normalise, casefolded and split into
  words; the two word sequences compared with difflib (ratio, in order) and as bags of
  words (F1, order-free). Pages where either reader failed are counted apart.

    python scripts/pdf_readers.py                    # both eval sets, a table
    python scripts/pdf_readers.py --json DIR...      # chosen folders, JSON
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_DIRS = (EVAL_DIR / "sec10q" / "docs", EVAL_DIR / "pdf-robustness")
CHILD_TIMEOUT_S = 120


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text[:160]


def read_pypdf(path: Path) -> dict:
    from pypdf import PdfReader

    from ingest.pdf import _limits

    started = time.perf_counter()
    pages: list[str | None] = []
    try:
        with _limits(), open(path, "rb") as stream:
            reader = PdfReader(stream, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise PermissionError("needs a password")
            for page in reader.pages:
                try:
                    pages.append(page.extract_text() or "")
                except Exception:  # one page: counted as failed, the others go on
                    pages.append(None)
    except Exception as exc:
        return {"error": _short(exc), "seconds": time.perf_counter() - started, "pages": []}
    return {"error": None, "seconds": time.perf_counter() - started, "pages": pages}


def read_pdfium(path: Path) -> dict:
    import pypdfium2 as pdfium

    started = time.perf_counter()
    pages: list[str | None] = []
    try:
        doc = pdfium.PdfDocument(str(path))
        for index in range(len(doc)):
            try:
                page = doc[index]
                textpage = page.get_textpage()
                pages.append(textpage.get_text_range().replace("\ufffe", "-"))  # as the loader
                textpage.close()
                page.close()
            except Exception:
                pages.append(None)
        doc.close()
    except Exception as exc:
        return {"error": _short(exc), "seconds": time.perf_counter() - started, "pages": []}
    return {"error": None, "seconds": time.perf_counter() - started, "pages": pages}


def read_pdfium_isolated(path: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-pdfium", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout over {CHILD_TIMEOUT_S} s", "seconds": None, "pages": []}
    if proc.returncode != 0:
        return {"error": f"crash: exit {proc.returncode}", "seconds": None, "pages": []}
    return json.loads(proc.stdout)


def words(text: str) -> list[str]:
    from ingest.pdf import normalise

    return normalise(text).casefold().split()


def bag_f1(a: list[str], b: list[str]) -> float:
    if not a and not b:
        return 1.0
    common = sum((Counter(a) & Counter(b)).values())
    return 2 * common / (len(a) + len(b))


def compare(path: Path) -> dict:
    one = read_pypdf(path)
    two = read_pdfium_isolated(path)
    row = {
        "file": str(path),
        "pypdf_error": one["error"],
        "pdfium_error": two["error"],
        "pypdf_s": one["seconds"],
        "pdfium_s": two["seconds"],
        "pypdf_pages": len(one["pages"]),
        "pdfium_pages": len(two["pages"]),
        "pypdf_failed_pages": sum(p is None for p in one["pages"]),
        "pdfium_failed_pages": sum(p is None for p in two["pages"]),
        "pypdf_words": sum(len(words(p)) for p in one["pages"] if p),
        "pdfium_words": sum(len(words(p)) for p in two["pages"] if p),
        "ratios": [],
        "f1s": [],
    }
    if len(one["pages"]) == len(two["pages"]):
        for a, b in zip(one["pages"], two["pages"], strict=True):
            if a is None or b is None:
                continue
            wa, wb = words(a), words(b)
            if not wa and not wb:
                continue  # an empty page in both: nothing to compare
            ratio = difflib.SequenceMatcher(None, wa, wb, autojunk=False).ratio()
            row["ratios"].append(ratio)
            row["f1s"].append(bag_f1(wa, wb))
    return row


def summarise(name: str, rows: list[dict]) -> dict:
    both = [r for r in rows if r["pypdf_s"] is not None and r["pdfium_s"] is not None]
    pages_one = sum(r["pypdf_pages"] for r in both)
    pages_two = sum(r["pdfium_pages"] for r in both)
    sec_one = sum(r["pypdf_s"] for r in both)
    sec_two = sum(r["pdfium_s"] for r in both)
    ratios = [x for r in rows for x in r["ratios"]]
    f1s = [x for r in rows for x in r["f1s"]]
    return {
        "set": name,
        "files": len(rows),
        "pypdf_file_errors": sum(bool(r["pypdf_error"]) for r in rows),
        "pdfium_file_errors": sum(bool(r["pdfium_error"]) for r in rows),
        "pdfium_crashes": sum(
            str(r["pdfium_error"]).startswith(("crash", "timeout")) for r in rows
        ),
        "pypdf_failed_pages": sum(r["pypdf_failed_pages"] for r in rows),
        "pdfium_failed_pages": sum(r["pdfium_failed_pages"] for r in rows),
        "pypdf_pages": pages_one,
        "pdfium_pages": pages_two,
        "pypdf_s": round(sec_one, 2),
        "pdfium_s": round(sec_two, 2),
        "pypdf_ms_per_page": round(1000 * sec_one / max(pages_one, 1), 2),
        "pdfium_ms_per_page": round(1000 * sec_two / max(pages_two, 1), 2),
        "speedup": round(sec_one / sec_two, 1) if sec_two else None,
        "pypdf_words": sum(r["pypdf_words"] for r in rows),
        "pdfium_words": sum(r["pdfium_words"] for r in rows),
        "pages_compared": len(ratios),
        "ratio_mean": round(float(np.mean(ratios)), 4) if ratios else None,
        "ratio_median": round(float(np.median(ratios)), 4) if ratios else None,
        "ratio_p10": round(float(np.percentile(ratios, 10)), 4) if ratios else None,
        "pages_ratio_ge_0.95": round(float(np.mean(np.array(ratios) >= 0.95)), 3)
        if ratios
        else None,
        "f1_mean": round(float(np.mean(f1s)), 4) if f1s else None,
        "only_pypdf_read": [r["file"] for r in rows if r["pdfium_error"] and not r["pypdf_error"]],
        "only_pdfium_read": [r["file"] for r in rows if r["pypdf_error"] and not r["pdfium_error"]],
        "worst_pages": sorted(
            (
                (round(x, 3), Path(r["file"]).name, i)
                for r in rows
                for i, x in enumerate(r["ratios"])
            ),
        )[:5],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/pdf_readers.py", description=__doc__.split("\n")[0])
    p.add_argument("dirs", nargs="*", type=Path, default=list(DEFAULT_DIRS))
    p.add_argument("--json", action="store_true")
    p.add_argument("--child-pdfium", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_pdfium:
        print(json.dumps(read_pdfium(args.child_pdfium)))
        return 0
    out = []
    for folder in args.dirs:
        rows = []
        for path in sorted(folder.rglob("*.pdf")):
            print(f"  {path.relative_to(folder)}", file=sys.stderr, flush=True)
            rows.append(compare(path))
        out.append(summarise(folder.name if folder.name != "docs" else folder.parent.name, rows))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for s in out:
            print(json.dumps(s))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
