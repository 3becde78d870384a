"""The web UI in a real browser (Debian chromium driven by Playwright) against both services as processes."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright

from conftest import CHROMIUM, ROOT, ServiceProcess, StartService
from servicekit import free_port

ARTIFACTS = ROOT / "test-artifacts"
# Flags for a closed network: no background calls home, no component updates (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Records every change of the page the test cares about, so streaming is proven by what the page showed.
RECORDER = """
window.__snapshots = [];
new MutationObserver(() => {
  const answer = document.querySelector('.message.assistant:last-of-type .body');
  window.__snapshots.push({
    answer: answer ? answer.textContent.length : 0,
    members: [...document.querySelectorAll('.member .text')].map((e) => e.textContent.length),
    busy: document.getElementById('send').disabled,
  });
}).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
"""


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    yield tab
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


# `page` comes last in each signature so it is torn down (and its screenshot taken) before the services stop.
def test_typed_message_streams_tokens_and_fills_the_council_panel(
    start_main: StartService, voice: ServiceProcess, page: Page
) -> None:
    main = start_main(voice, COUNCIL_LLM__MAX_TOKENS="24")
    page.goto(main.url)
    page.evaluate(RECORDER)
    page.wait_for_selector("#connection[data-state='open']")

    page.select_option("#path", "council")
    page.fill("#text", "Should a small team write tests first?")
    page.click("#send")
    page.wait_for_selector("#send:not([disabled])", timeout=120_000)

    snapshots = page.evaluate("window.__snapshots")
    # Streaming: members' text and the answer grew while the turn was still running, in more than one step.
    assert any(s["busy"] and any(s["members"]) for s in snapshots)
    answer_lengths_while_busy = {s["answer"] for s in snapshots if s["busy"] and s["answer"]}
    assert len(answer_lengths_while_busy) >= 2
    assert page.locator(".member").count() == 3
    assert page.locator("#route-badge").inner_text() == "council"
    assert page.locator(".message.assistant .body").last.inner_text().strip()
    assert page.locator("#conversations li").count() >= 1


def test_a_ranked_council_turn_shows_each_ballot_and_the_aggregate(
    start_main: StartService, voice: ServiceProcess, page: Page
) -> None:
    main = start_main(voice, COUNCIL_LLM__MAX_TOKENS="16")
    page.goto(main.url)
    page.wait_for_selector("#connection[data-state='open']")

    page.select_option("#path", "council")
    page.check("#rank-answers")
    page.fill("#text", "Tea or coffee?")
    page.click("#send")
    page.wait_for_selector("#send:not([disabled])", timeout=120_000)

    # Every member's card shows its ballot as read (ranked, or why it was not counted), its answer kept above it.
    ballots = page.locator(".member .ballot")
    assert ballots.count() == 3
    for index in range(3):
        assert ballots.nth(index).is_visible()
        assert ballots.nth(index).get_attribute("data-state") in ("read", "unread")
        assert ballots.nth(index).inner_text().startswith(("ranks: ", "ranking not counted: "))
    assert all(text.strip() for text in page.locator(".member .text").all_inner_texts())
    # The aggregate: one line per answer, best first.
    assert page.locator("#ranking").is_visible()
    assert page.locator("#ranking li").count() == 3
    # Only ranked answers carry a place number; one nobody could rank is listed without one (at 16 tokens the
    # bundled model rarely writes a readable ballot, so most runs have such lines).
    for line in page.locator("#ranking li").all():
        marker = line.evaluate("li => getComputedStyle(li).listStyleType")
        assert marker == ("none" if line.inner_text().endswith("not ranked") else "decimal"), line.inner_text()
    assert "rank each other's answers" in page.locator("#route-reason").inner_text()


def test_voice_down_is_said_plainly_and_text_chat_still_works(start_main: StartService, page: Page) -> None:
    main = start_main(free_port(), COUNCIL_LLM__MAX_TOKENS="8")  # nothing listens on the voice port
    page.goto(main.url)
    page.wait_for_selector("#voice-status[data-state='warn']")

    assert "Voice is unavailable" in page.locator("#notice").inner_text()
    assert "Text chat works" in page.locator("#notice").inner_text()
    assert page.locator("#talk").is_disabled()
    page.fill("#text", "/fast Hello")
    page.click("#send")
    page.wait_for_selector("#send:not([disabled])", timeout=60_000)
    assert page.locator(".message.assistant .body").last.inner_text().strip()


def test_the_page_asks_for_a_key_when_the_server_needs_one_and_then_chats(
    start_main: StartService, voice: ServiceProcess, page: Page
) -> None:
    main = start_main(
        voice,
        COUNCIL_LLM__MAX_TOKENS="8",
        COUNCIL_AUTH__API_KEY="admin-key-0123456789",
        COUNCIL_AUTH__CLIENT_KEYS='{"alice": "alice-key-0123456789"}',
    )
    page.goto(main.url)
    page.wait_for_selector("#key-dialog[open]")
    page.fill("#key-input", "a-guess")
    page.click("#key-submit")
    page.wait_for_selector("#key-dialog[open]")  # asked again, saying why
    assert "not accepted" in page.locator("#key-reason").inner_text()
    page.fill("#key-input", "alice-key-0123456789")
    page.click("#key-submit")

    page.wait_for_selector("#connection[data-state='open']")  # /ws/chat took the key as a subprotocol
    assert page.locator("#caller").inner_text() == "alice"
    page.fill("#text", "/fast Hello")
    page.click("#send")
    page.wait_for_selector("#send:not([disabled])", timeout=60_000)
    assert page.locator(".message.assistant .body").last.inner_text().strip()
    page.wait_for_selector("#conversations li")  # her own conversation, listed with her key
