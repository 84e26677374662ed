"""The real app in a real browser: `streamlit run app.py` with the bundled models and the
sample documents, driven by headless Chromium through Playwright.

Needs Debian's chromium at /usr/bin/chromium (`make install` installs it). Writes a
screenshot and the measured start-up and answer times to test-output/browser/.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = REPO / "test-output" / "browser"
CHAT_PLACEHOLDER = "Ask a question about your documents"
ANSWER_TIMEOUT_MS = 240_000
ADMIN_PASSWORD = "browser admin password"
READER_PASSWORD = "browser reader password"
# In a collection the reader is not granted: no word of it may reach the reader's page.
PAYROLL_DOC = "# Payroll\n\nThe Quokkafest bonus of 7,300 euros goes to Ines Okafor.\n"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.is_file(),
        reason="no /usr/bin/chromium: run `make install` (installs Debian's chromium with "
        "apt-get) or `apt-get install chromium`",
    ),
]


# A document written to attack the page: a script, a remote image in HTML and in Markdown,
# and a link. Its made-up product name lets one question find it.
HOSTILE_DOC = (
    "# Zorblax notice\n\n"
    "The Zorblax gateway ships on Fridays. <script>window.__injected = 1</script> "
    '<img src="http://example.com/pixel.png" onerror="window.__injected = 2"> '
    "![tracker](http://example.com/tracker.png) [click](http://example.com/phish)\n"
)


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"streamlit was not healthy after {timeout} s:\n{log.read_text()}")


def rss_mb(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True)
    return int(out.stdout.strip() or 0) / 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on a free loopback port, over a fresh index of the sample documents."""
    root = tmp_path_factory.mktemp("browser")
    env = {
        **os.environ,
        "RAG_INDEX_DIR": str(root / "index"),
        "RAG_DOCS_DIR": str(root / "documents"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAG_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    for name in ("RAG_EMBEDDER", "RAG_LLM_MODEL", "RAG_LLM_URL"):
        env.pop(name, None)  # the bundled models
    hostile = root / "hostile"
    hostile.mkdir()
    (hostile / "zorblax_notice.md").write_text(HOSTILE_DOC, encoding="utf-8")
    ingested = subprocess.run(
        [sys.executable, "-m", "rag.ingest", str(REPO / "sample_docs"), str(hostile), "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ingested.returncode == 0, ingested.stderr + ingested.stdout
    hr = root / "hr"
    hr.mkdir()
    (hr / "payroll.md").write_text(PAYROLL_DOC, encoding="utf-8")
    for command, stdin in (
        (["rag.ingest", str(hr), "--collection", "hr", "--quiet"], ""),
        (["rag.users", "add", "rita", "--role", "reader", "--grant", "default",
          "--password-stdin"], READER_PASSWORD + "\n"),
    ):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", *command],
            cwd=REPO,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr + done.stdout

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "streamlit.log"
    started = time.monotonic()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")),
                *("--server.address", "127.0.0.1", "--server.port", str(port)),
                *("--server.headless", "true", "--browser.gatherUsageStats", "false"),
                *("--server.fileWatcherType", "none"),
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_healthy(url, process, log)
        yield {
            "url": url,
            "pid": process.pid,
            "started": started,
            "log": log,
            "healthy_s": time.monotonic() - started,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def sign_in(page, url: str, name: str = "admin", password: str = ADMIN_PASSWORD) -> None:
    """Open the app and sign in; done when the chat is ready."""
    page.goto(url)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder(CHAT_PLACEHOLDER).wait_for(timeout=ANSWER_TIMEOUT_MS)


def ask(page, question: str) -> None:
    box = page.get_by_placeholder(CHAT_PLACEHOLDER)
    box.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
    box.fill(question)
    box.press("Enter")


def wait_for_answer(page):
    """The finished answer: its timing line appears once the last word is written."""
    from playwright.sync_api import expect

    message = page.locator('[data-testid="stChatMessage"]').last
    expect(message.get_by_text(" s · search ")).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    answer = message.locator(".rd-answer, .rd-declined").first
    return answer.inner_text().strip(), message.locator(".rd-card").all_inner_texts()


def keep_screenshot(page, name: str, settle_ms: int) -> None:
    """The whole page, after letting its last frame paint, in test-output/browser/."""
    page.wait_for_timeout(settle_ms)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), full_page=True)


def download_when_ready(page, button: str):
    """Click a download button until the file comes.

    A click that lands while the page is still rerunning after a choice reaches the
    previous run's button, whose deferred file is gone; a person would click again.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(5):
        try:
            with page.expect_download(timeout=6_000) as downloading:  # read on click
                page.get_by_role("button", name=button, exact=True).click()
            return downloading.value
        except PlaywrightTimeout:
            continue
    pytest.fail(f"no file came from the {button!r} button after 5 clicks")


def test_a_question_is_answered_with_its_source_in_the_browser(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    sign_in(page, server["url"])
    ready = time.monotonic() - server["started"]
    asked = time.monotonic()
    ask(page, "What is the minimum password length?")
    text, source_cards = wait_for_answer(page)
    answered = time.monotonic() - asked

    assert text and "▌" not in text
    assert any("it_security_policy.pdf" in c and "page 2" in c for c in source_cards), source_cards
    keep_screenshot(page, "answer.png", settle_ms=300)
    (OUTPUT / "timings.json").write_text(
        json.dumps(
            {
                "healthy_s": round(server["healthy_s"], 2),
                "chat_ready_s": round(ready, 2),
                "first_answer_s": round(answered, 2),
                "rss_mb": round(rss_mb(server["pid"]), 1),
                "answer": text,
            },
            indent=2,
        )
    )
    page.close()


def test_two_browser_sessions_asking_at_once_both_get_answers(server, browser):
    contexts = [browser.new_context() for _ in range(2)]
    pages = [context.new_page() for context in contexts]
    questions = ["What is the minimum password length?", "How many days of paid holiday?"]
    for page in pages:
        sign_in(page, server["url"])
    for page, question in zip(pages, questions, strict=True):
        ask(page, question)
    results = [wait_for_answer(page) for page in pages]
    for text, source_cards in results:
        assert text and source_cards
    assert any("employee_handbook.md" in c for c in results[1][1])
    for context in contexts:
        context.close()


def test_hostile_document_text_is_shown_as_text_not_run(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, server["url"])
    ask(page, "When does the Zorblax gateway ship?")
    _, source_cards = wait_for_answer(page)
    card = next(c for c in source_cards if "zorblax_notice.md" in c)
    assert "<script>window.__injected = 1</script>" in card  # visible, as text
    assert "![tracker](http://example.com/tracker.png)" in card
    assert page.evaluate("window.__injected") is None  # no script or handler ran
    assert page.locator('img[src*="example.com"]').count() == 0
    assert page.locator('a[href*="example.com"]').count() == 0
    assert not [url for url in requested if "example.com" in url]
    page.close()


def test_a_collection_is_created_on_the_collections_page(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    sign_in(page, server["url"])
    page.get_by_role("link", name="Collections").click()
    expect(page.get_by_role("heading", name="Collections")).to_be_visible(timeout=60_000)
    page.get_by_label("Name", exact=True).fill("legal")
    page.get_by_label("Description (optional)").fill("Client contracts")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Created legal.")).to_be_visible(timeout=30_000)
    keep_screenshot(page, "collections.png", settle_ms=500)
    # The chat now offers the collections to ask.
    page.get_by_role("link", name="Chat").click()
    page.get_by_placeholder(CHAT_PLACEHOLDER).wait_for(timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_text("Ask in")).to_be_visible(timeout=60_000)
    page.close()


def test_a_reader_signs_in_and_sees_only_what_they_may(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(server["url"])
    expect(page.get_by_role("heading", name="Sign in to ragdesk")).to_be_visible(timeout=60_000)
    assert page.get_by_placeholder(CHAT_PLACEHOLDER).count() == 0  # nothing before sign-in
    page.get_by_label("Name", exact=True).fill("rita")
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("wrong name or password")).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1200)  # the rate limit: one try a second after a failure
    sign_in(page, server["url"], "rita", READER_PASSWORD)
    expect(page.get_by_text("Signed in as rita (reader)")).to_be_visible(timeout=30_000)
    for link in ("Collections", "People", "Audit"):
        assert page.get_by_role("link", name=link).count() == 0
    ask(page, "Who gets the Quokkafest bonus?")
    text, source_cards = wait_for_answer(page)
    shown = page.locator("body").inner_text()
    for secret in ("Quokkafest bonus of", "7,300", "Okafor", "payroll.md"):
        assert secret not in shown and not any(secret in c for c in source_cards), secret
    page.get_by_role("link", name="Documents").click()
    expect(page.get_by_text("You can read and download")).to_be_visible(timeout=30_000)
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    assert "payroll.md" not in page.content()
    # The list is sorted by path, and where the clone lives decides which file comes first.
    page.get_by_label("Download a document").click()
    page.get_by_role("option", name="zorblax_notice.md").click()
    picked = page.get_by_label("Download a document")
    expect(picked).to_have_value(re.compile("^zorblax_notice.md"), timeout=30_000)
    saved = download_when_ready(page, "Download")
    assert saved.suggested_filename == "zorblax_notice.md"
    assert Path(saved.path()).read_text(encoding="utf-8") == HOSTILE_DOC
    keep_screenshot(page, "reader.png", settle_ms=500)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to ragdesk")).to_be_visible(timeout=30_000)
    page.close()


def test_an_admin_adds_a_person_and_reads_the_audit_trail(server, browser):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    sign_in(page, server["url"])
    page.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible(timeout=60_000)
    page.get_by_label("Name (an e-mail address for single sign-on)").fill("paula")
    page.get_by_role("button", name="Add", exact=True).click()
    notice = page.get_by_text("Added paula. One-time password, shown once:")
    expect(notice).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Export (JSON lines)")).to_be_visible()
    keep_screenshot(page, "audit.png", settle_ms=800)
    page.close()
