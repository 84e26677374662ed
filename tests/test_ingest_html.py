"""HTML loader: visible text only, h1-h6 heading paths, title from <title>."""

from __future__ import annotations

from ingest.html import load_html

PAGE = """<!DOCTYPE html>
<html><head><title>Acme Intranet</title><meta charset="utf-8">
<style>body { color: red }</style><script>var secret = "script text";</script></head>
<body>
<nav>Home</nav>
<h1>Benefits</h1>
<p>Health cover for <b>everyone</b>
   from day one.</p>
<div hidden>hidden attribute text</div>
<p style="display: none">display none text</p>
<noscript>enable javascript</noscript>
<template><p>template text</p></template>
<!-- a comment -->
<h2>Pension</h2>
<p>We match 5%.<br>Paid monthly.</p>
<table>
  <tr><th>Age</th><th>Match</th></tr>
  <tr><td>Under 30</td><td>5%</td></tr>
</table>
<h3>Opting out</h3>
<ul><li>Write to HR</li><li>Wait a month</li></ul>
<h2>Leave</h2>
<pre>  Day 1:  apply
  Day 2:  enjoy</pre>
</body></html>
"""


def write(tmp_path, content: str | bytes, name: str = "page.html"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_visible_text_with_heading_paths(tmp_path):
    doc = load_html(write(tmp_path, PAGE))
    assert doc.format == "html"
    assert doc.title == "Acme Intranet"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ((), "Home"),
        (("Benefits",), "Benefits\nHealth cover for everyone from day one."),
        (
            ("Benefits", "Pension"),
            "Pension\nWe match 5%.\nPaid monthly.\nAge | Match\nUnder 30 | 5%",
        ),
        (("Benefits", "Pension", "Opting out"), "Opting out\nWrite to HR\nWait a month"),
        (("Benefits", "Leave"), "Leave\n  Day 1:  apply\n  Day 2:  enjoy"),
    ]


def test_invisible_content_is_dropped(tmp_path):
    text = "\n".join(s.text for s in load_html(write(tmp_path, PAGE)).sections)
    for invisible in (
        "script text",
        "color: red",
        "hidden attribute text",
        "display none text",
        "enable javascript",
        "template text",
        "a comment",
        "Acme Intranet",  # the title is metadata, not body text
    ):
        assert invisible not in text


def test_title_falls_back_to_h1_then_stem(tmp_path):
    assert load_html(write(tmp_path, "<h1>Careers</h1><p>Join us</p>")).title == "Careers"
    assert load_html(write(tmp_path, "<p>Just text</p>", name="about-us.htm")).title == "about-us"


def test_declared_legacy_charset_is_honoured(tmp_path):
    html = '<html><head><meta charset="iso-8859-15"></head><body><p>Prix: 5 €</p></body></html>'
    doc = load_html(write(tmp_path, html.encode("iso-8859-15")))
    assert doc.sections[0].text == "Prix: 5 €"


def test_undeclared_cp1252_bytes_still_decode(tmp_path):
    doc = load_html(write(tmp_path, "<p>Canción “nueva”</p>".encode("cp1252")))
    assert doc.sections[0].text == "Canción “nueva”"


def test_broken_markup_still_yields_text(tmp_path):
    html = "<body><h1>Heading</h1><p>para one<div>div two</p><td>stray cell</td><li>loose"
    doc = load_html(write(tmp_path, html))
    assert [(s.heading, s.text) for s in doc.sections] == [
        (("Heading",), "Heading\npara one\ndiv two\nstray cell\nloose")
    ]


def test_an_unclosed_heading_keeps_its_text(tmp_path):
    doc = load_html(write(tmp_path, "<h1>Unclosed<p>para one"))
    assert "para one" in doc.sections[0].text


def test_deep_nesting_does_not_hit_the_recursion_limit(tmp_path):
    doc = load_html(write(tmp_path, "<div>" * 5000 + "deep text" + "</div>" * 5000))
    assert doc.sections[0].text == "deep text"
