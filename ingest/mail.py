"""E-mail: a message (.eml) or a mailbox of them (.mbox).

Each message is one run of sections headed by its subject: a first line with who sent
it to whom and when (so those are searchable and shown with every passage of it), then
the text body, an HTML-only body reduced to its visible text as the HTML loader does.
Attachments of a type the registry reads are read by their own loader and follow the
message as its sections, headed "subject > attachment name > its own headings" and
keeping their page numbers, so a citation reads "message > attachment, page 3". An
attachment that cannot be read is a warning; the message still loads.

A mailbox is bounded: MAX_MESSAGES messages are read, the rest is a warning; an
attachment over the registry's size limit or nested deeper than MAX_NESTING messages is
skipped with a warning.
"""

from __future__ import annotations

import email
import mailbox
import tempfile
from email import policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from ._common import meaningful_title, scrub, short
from .html import html_sections
from .types import LoadError, ParsedDocument, Section, UnsupportedFormatError

MAX_MESSAGES = 10_000
MAX_ATTACHMENTS = 50  # per message
MAX_NESTING = 3  # a message attached to a message attached to ...
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024


def load_eml(path: str | Path) -> ParsedDocument:
    path = Path(path)
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=policy.default)
    if not message.keys():
        raise LoadError(str(path), "not an e-mail message: no headers found")
    warnings: list[str] = []
    sections = _message_sections(message, warnings, depth=0)
    return ParsedDocument(
        path=str(path),
        title=_subject(message) or path.stem,
        format="eml",
        sections=tuple(sections),
        metadata=_people(message),
        warnings=tuple(warnings),
    )


def load_mbox(path: str | Path) -> ParsedDocument:
    path = Path(path)
    box = mailbox.mbox(str(path), factory=None, create=False)
    warnings: list[str] = []
    sections: list[Section] = []
    count = 0
    try:
        for key in box.iterkeys():
            if count == MAX_MESSAGES:
                warnings.append(f"only the first {MAX_MESSAGES:,} messages were read")
                break
            count += 1
            try:
                message = email.message_from_bytes(box.get_bytes(key), policy=policy.default)
                sections += _message_sections(message, warnings, depth=0)
            except Exception as exc:  # one broken message must not cost the mailbox
                warnings.append(f"message {count} could not be read ({short(exc)})")
    finally:
        box.close()
    if not count:
        raise LoadError(str(path), "not a mailbox: no messages found (an mbox starts 'From ')")
    return ParsedDocument(
        path=str(path),
        title=path.stem,
        format="mbox",
        sections=tuple(sections),
        metadata={"messages": str(count)},
        warnings=tuple(warnings),
    )


def _subject(message: EmailMessage) -> str | None:
    return meaningful_title(_header(message, "subject"))


def _header(message: EmailMessage, name: str) -> str:
    try:
        return " ".join(scrub(str(message.get(name, "") or "")).split())
    except Exception:  # a header too malformed for the parser's policy
        return ""


def _people(message: EmailMessage) -> dict[str, str]:
    found = {name: _header(message, name) for name in ("from", "to", "cc", "date")}
    date = found.get("date")
    if date:
        try:
            found["date"] = parsedate_to_datetime(date).isoformat(timespec="minutes")
        except (TypeError, ValueError):
            pass
    return {k: v for k, v in found.items() if v}


def _message_sections(message: EmailMessage, warnings: list[str], depth: int) -> list[Section]:
    subject = _subject(message) or "(no subject)"
    people = _people(message)
    envelope = "; ".join(f"{k.capitalize()}: {v}" for k, v in people.items())
    body = _body_text(message)
    text = scrub("\n\n".join(part for part in (subject, envelope, body) if part)).strip()
    sections = [Section(text=text, page=None, heading=(subject,))]
    for number, part in enumerate(message.iter_attachments(), start=1):
        if number > MAX_ATTACHMENTS:
            warnings.append(f"{subject}: only the first {MAX_ATTACHMENTS} attachments were read")
            break
        sections += _attachment_sections(subject, part, warnings, depth)
    return sections


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        _, html = html_sections(content)
        return "\n\n".join(section.text for section in html)
    return content.strip()


def _attachment_sections(
    subject: str, part: EmailMessage, warnings: list[str], depth: int
) -> list[Section]:
    from .registry import load  # the registry lists this module's loaders too

    name = Path(str(part.get_filename() or "")).name or "attachment"
    if part.get_content_type() == "message/rfc822":
        if depth + 1 >= MAX_NESTING:
            warnings.append(f"{subject} > {name}: messages nested deeper than {MAX_NESTING}")
            return []
        inner = part.get_content()
        return [
            Section(s.text, s.page, (subject, *s.heading))
            for s in _message_sections(inner, warnings, depth + 1)
        ]
    suffix = Path(name).suffix.lower()
    if suffix in (".eml", ".mbox"):
        return []  # mail inside mail is read as message/rfc822 above, where depth is counted
    with tempfile.TemporaryDirectory(prefix="rag-attachment-") as folder:
        file = Path(folder) / f"attachment{suffix}"
        file.write_bytes(part.get_payload(decode=True) or b"")
        # The registry's load: the same limits, and every failure a LoadError, as for a file.
        try:
            document = load(file, max_bytes=MAX_ATTACHMENT_BYTES)
        except UnsupportedFormatError:
            return []  # a type we do not read (an image, a signature): skipped, as in a folder
        except LoadError as exc:
            warnings.append(f"{subject} > {name}: {exc.reason}")
            return []
    warnings += [f"{subject} > {name}: {w}" for w in document.warnings]
    return [Section(s.text, s.page, (subject, name, *s.heading)) for s in document.sections]
