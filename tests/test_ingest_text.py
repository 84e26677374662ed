"""Plain text loader and the shared byte decoding: never crash on any bytes."""

from __future__ import annotations

import codecs
import random

import pytest

from ingest.text import decode_bytes, load_text

SAMPLE = "Política de viajes: 5 € por día — “sin excepción”.\nSegunda línea."


@pytest.mark.parametrize(
    "data",
    [
        SAMPLE.encode("utf-8"),
        codecs.BOM_UTF8 + SAMPLE.encode("utf-8"),
        codecs.BOM_UTF16_LE + SAMPLE.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + SAMPLE.encode("utf-16-be"),
        codecs.BOM_UTF32_LE + SAMPLE.encode("utf-32-le"),
        SAMPLE.encode("cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf32le-bom", "cp1252"],
)
def test_decode_round_trips(data):
    assert decode_bytes(data) == SAMPLE


def test_empty_input():
    assert decode_bytes(b"") == ""


def test_latin1_is_the_last_resort():
    # 0x81 is undefined in cp1252, so only Latin-1 can take these bytes.
    assert decode_bytes(b"caf\xe9 \x81") == "café \x81"


def test_declared_encoding_is_tried_after_utf8():
    koi8 = "Привет".encode("koi8-r")
    assert decode_bytes(koi8, encoding_hint="koi8-r") == "Привет"
    assert decode_bytes("Привет".encode(), encoding_hint="koi8-r") == "Привет"  # UTF-8 wins
    assert decode_bytes(b"caf\xe9", encoding_hint="no-such-codec") == "café"
    # "latin-1" labels mean Windows-1252, as in browsers: 0x80 is the euro sign.
    assert decode_bytes(b"5 \x80", encoding_hint="iso-8859-1") == "5 €"


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_raise(seed):
    data = random.Random(seed).randbytes(2000)
    assert isinstance(decode_bytes(data), str)
    assert isinstance(decode_bytes(codecs.BOM_UTF16_LE + data[:999]), str)  # odd length


def test_load_text_is_one_section_with_the_text_as_is(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(codecs.BOM_UTF8 + b"line one\r\n\r\n  indented  line\r\n")
    doc = load_text(path)
    assert doc.format == "text"
    assert doc.title == "notes"
    assert [(s.text, s.page, s.heading) for s in doc.sections] == [
        ("line one\n\n  indented  line", None, ())
    ]


def test_nul_bytes_are_removed(tmp_path):
    path = tmp_path / "odd.txt"
    path.write_bytes(b"ab\x00cd")
    assert load_text(path).sections[0].text == "abcd"


def test_random_bytes_file_loads(tmp_path):
    path = tmp_path / "noise.txt"
    path.write_bytes(random.Random(7).randbytes(5000))
    doc = load_text(path)
    assert doc.sections and doc.sections[0].text.strip()
    doc.sections[0].text.encode("utf-8")  # storable: no lone surrogates, no NULs
    assert "\x00" not in doc.sections[0].text
