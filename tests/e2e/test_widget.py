"""Browser tests of the embeddable chat widget (bot/static/widget.js).

They run against the ``chat_server`` fixture (tests/e2e/conftest.py): the fake server
by default, the real one when plugged in. Assertions do not depend on canned answer
text, except in the tests that need the fake server's canned triggers (skipped for a
real server); the XSS and error-frame paths are also covered server-agnostically by
injecting frames with Playwright's WebSocket routing.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

CHROMIUM = os.environ.get("BOT_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (install with `apt-get install -y chromium` "
        "or point BOT_CHROMIUM at a Chromium binary)",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = int(float(os.environ.get("BOT_E2E_ANSWER_TIMEOUT", "30")) * 1000)
QUESTION = os.environ.get("BOT_E2E_QUESTION", "What is your return policy?")
XSS = '<img src=x onerror="window.__xss=1">'
WIDGET_JS = Path(__file__).resolve().parents[2] / "bot" / "static" / "widget.js"


# ----------------------------------------------------------------------- helpers


def tid(page: Page, test_id: str):
    return page.get_by_test_id(test_id)


def role_messages(page: Page, role: str):
    # CSS pierces the widget's open shadow root.
    return page.locator(f"[data-testid='chat-message'][data-role='{role}']")


def open_chat(page: Page, url: str) -> None:
    page.goto(url + "/")
    launcher = tid(page, "chat-launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(tid(page, "chat-panel")).to_be_visible()
    expect(tid(page, "chat-status")).to_have_text("connected")


def ask(page: Page, text: str) -> None:
    box = tid(page, "chat-input")
    box.fill(text)
    box.press("Enter")


def wait_for_new_bot_message(page: Page, before: int):
    bots = role_messages(page, "bot")
    expect(bots).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    last = bots.nth(before)
    expect(last).not_to_have_attribute("data-streaming", "true", timeout=ANSWER_TIMEOUT_MS)
    return last


def record_status_changes(page: Page) -> None:
    """Log every text the status element shows into window.__statusLog."""
    tid(page, "chat-status").evaluate(
        """el => {
            window.__statusLog = [el.textContent];
            new MutationObserver(() => window.__statusLog.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )


def session_of(ws_url: str) -> str | None:
    """The session token a connection presented (None: it asked for a new one)."""
    return parse_qs(urlsplit(ws_url).query).get("session", [None])[0]


def wait_for_socket(page: Page, sockets: list, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not sockets and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert sockets, "no WebSocket was opened"


def assert_no_js_errors(page: Page) -> None:
    assert page.js_errors == [], f"uncaught JS errors: {page.js_errors}"


# ------------------------------------------------------------------------- tests


def test_page_loads_launcher_opens_panel_and_connects(page: Page, chat_server):
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(chat_server.url + "/")
    expect(page).to_have_title(re.compile("Northwind Outfitters"))
    # Embedded with exactly one script tag.
    assert page.locator("script[src$='/static/widget.js']").count() == 1

    launcher = tid(page, "chat-launcher")
    panel = tid(page, "chat-panel")
    expect(launcher).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_have_attribute("aria-label", re.compile(r"\S"))
    expect(panel).to_be_hidden()

    launcher.click()
    expect(panel).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(tid(page, "chat-status")).to_have_text("connected")
    expect(tid(page, "chat-input")).to_be_focused()
    expect(tid(page, "chat-input")).to_have_attribute("aria-label", re.compile(r"\S"))
    expect(tid(page, "chat-send")).to_have_attribute("aria-label", re.compile(r"\S"))
    expect(tid(page, "chat-log")).to_have_attribute("aria-live", "polite")
    # Connecting creates no conversation: it starts with the first message.
    expect(tid(page, "chat-panel")).not_to_have_attribute("data-conversation-id", re.compile(r".+"))
    expect(tid(page, "chat-message")).to_have_count(0)

    # WebSocket URL derived from the script's src: http://host:port/static/widget.js -> ws://host:port/ws
    assert len(sockets) == 1, sockets
    base = urlsplit(chat_server.url)
    ws = urlsplit(sockets[0])
    assert (ws.scheme, ws.netloc, ws.path) == ("ws", base.netloc, "/ws")
    # A first visit names no one: the server issues the session (kept for the next connection).
    assert session_of(sockets[0]) is None
    assert re.fullmatch(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", page.evaluate("() => localStorage.getItem('storebot:session')") or "")

    # Escape closes the panel and gives focus back to the launcher.
    tid(page, "chat-input").press("Escape")
    expect(panel).to_be_hidden()
    expect(launcher).to_be_focused()
    assert_no_js_errors(page)


def test_question_gets_answer_with_expandable_sources(page: Page, chat_server):
    open_chat(page, chat_server.url)
    typing = tid(page, "chat-typing")
    expect(typing).to_be_hidden()
    typing.evaluate(
        """el => {
            window.__typingShown = false;
            new MutationObserver(() => { if (!el.hidden) window.__typingShown = true; })
                .observe(el, {attributes: true, attributeFilter: ['hidden']});
        }"""
    )
    ask(page, QUESTION)

    customer = role_messages(page, "customer")
    expect(customer).to_have_count(1)
    expect(customer.first).to_contain_text(QUESTION)
    expect(tid(page, "chat-input")).to_have_value("")

    bot = wait_for_new_bot_message(page, 0)
    expect(bot).not_to_be_empty()
    expect(typing).to_be_hidden()
    assert page.evaluate("() => window.__typingShown"), "typing indicator never shown"

    sources = bot.get_by_test_id("chat-source")
    expect(sources.first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert sources.count() >= 1
    title = sources.first.get_by_test_id("chat-source-title")
    passage = sources.first.get_by_test_id("chat-source-passage")
    expect(title).to_be_visible()
    expect(title).to_have_text(re.compile(r"\S"))
    expect(passage).to_be_hidden()

    title.click()
    expect(passage).to_be_visible()
    expect(passage).to_have_text(re.compile(r"\S"))
    # Collapses again.
    title.click()
    expect(passage).to_be_hidden()
    assert_no_js_errors(page)


def test_generated_reply_streams_into_the_bubble_and_products_are_listed(page: Page, chat_server):
    """The real bot's generator: token frames arrive before the reply frame and the bubble grows while
    they do; a shopping request ends with the catalog products, SKU and price, under the text."""
    if chat_server.canned:
        pytest.skip("the fake server has no generator")
    frames: list[dict] = []

    def on_socket(ws):
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)) if isinstance(payload, str) else None)

    page.on("websocket", on_socket)
    open_chat(page, chat_server.url)
    tid(page, "chat-log").evaluate(
        """el => {
            window.__streamed = [];
            new MutationObserver(() => {
                const b = el.querySelector('[data-streaming="true"]');
                if (b) window.__streamed.push(b.textContent);
            }).observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )
    ask(page, "How many days do I have to return an item?")
    bot = wait_for_new_bot_message(page, 0)
    expect(bot).to_contain_text("30 days", timeout=ANSWER_TIMEOUT_MS)
    kinds = [f.get("type") for f in frames]
    reply = next(f for f in frames if f.get("type") == "reply")
    # Quoted answers are not phrased by default (README, "How it answers"): no `phrasing` then.
    if reply.get("phrasing", {}).get("generated"):
        assert "token" in kinds and kinds.index("token") < kinds.index("reply")
        assert page.evaluate("() => window.__streamed.length") > 0, "the bubble never showed streamed text"
    expect(bot.locator(".sb-msg-text")).to_have_text(reply["text"])

    ask(page, "I need a laptop for school under $800")
    suggestion = wait_for_new_bot_message(page, 1)
    products = suggestion.get_by_test_id("chat-product")
    expect(products.first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert 1 <= products.count() <= 3
    expect(products.first.get_by_test_id("chat-product-sku")).to_contain_text("NW-LAP-")
    expect(products.first.get_by_test_id("chat-product-price")).to_have_text(re.compile(r"\$\d+\.\d\d"))
    assert_no_js_errors(page)


def _assert_literal_and_harmless(page: Page) -> None:
    # Let any (wrongly) injected <img> fail to load and fire its onerror.
    page.wait_for_timeout(300)
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert page.locator("[data-testid='chat-log'] img").count() == 0
    assert page.locator("[data-testid='chat-panel'] img").count() == 0


def test_xss_canned_reply_renders_literally(page: Page, fake_chat_server):
    chat_server = fake_chat_server
    open_chat(page, chat_server.url)
    ask(page, "xss " + XSS)  # the customer's own text is hostile too

    customer = role_messages(page, "customer").first
    expect(customer).to_contain_text(XSS)
    bot = wait_for_new_bot_message(page, 0)
    expect(bot).to_contain_text(XSS)
    assert "<img" in bot.evaluate("el => el.textContent")

    source = bot.get_by_test_id("chat-source").first
    expect(source.get_by_test_id("chat-source-title")).to_contain_text(XSS)
    source.get_by_test_id("chat-source-title").click()
    passage = source.get_by_test_id("chat-source-passage")
    expect(passage).to_be_visible()
    assert "<img" in passage.evaluate("el => el.textContent")
    _assert_literal_and_harmless(page)
    assert_no_js_errors(page)


def test_xss_and_error_frames_injected_into_any_server(page: Page, chat_server):
    """Server-agnostic: proxy the real socket and inject hostile frames into it."""
    routes = []

    def on_ws(route):
        route.connect_to_server()  # everything else passes through unchanged
        routes.append(route)

    page.route_web_socket(re.compile(r"/ws(\?|$)"), on_ws)
    open_chat(page, chat_server.url)
    assert len(routes) == 1
    route = routes[0]

    route.send(json.dumps({"type": "surprise", "data": XSS}))  # unknown type: ignored
    route.send("not json " + XSS)  # garbage: ignored
    route.send(json.dumps({"type": "token", "text": "Hello " + XSS}))
    route.send(
        json.dumps(
            {
                "type": "reply",
                "conversation_id": "x",
                "text": "Injected " + XSS,
                "sources": [
                    {"document": XSS, "title": "T " + XSS, "passage": "P " + XSS, "score": 0.5},
                    "not-an-object",
                ],
                "confidence": 0.3,
                "products": [{"name": "Pack " + XSS, "url": "javascript:window.__xss=1"}],
            }
        )
    )
    bot = role_messages(page, "bot")
    expect(bot).to_have_count(1)  # tokens were merged into the final reply bubble
    expect(bot.first).to_contain_text("Injected " + XSS)
    expect(bot.first.get_by_test_id("chat-source")).to_have_count(1)
    bot.first.get_by_test_id("chat-source-title").click()
    expect(bot.first.get_by_test_id("chat-source-passage")).to_have_text("P " + XSS)
    assert page.locator("[data-testid='chat-panel'] a[href^='javascript']").count() == 0

    route.send(json.dumps({"type": "error", "error": "Bad " + XSS}))
    err = role_messages(page, "error")
    expect(err).to_have_count(1)
    expect(err.first).to_contain_text("Bad " + XSS)
    _assert_literal_and_harmless(page)
    assert_no_js_errors(page)


def test_reconnects_after_server_restart(page: Page, chat_server):
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_chat(page, chat_server.url)
    record_status_changes(page)

    chat_server.restart()

    page.wait_for_function(
        "() => window.__statusLog.some(s => s.includes('reconnecting'))", timeout=15_000
    )
    expect(tid(page, "chat-status")).to_have_text("connected", timeout=30_000)
    log = page.evaluate("() => window.__statusLog")
    assert log.index("connected", log.index("reconnecting\u2026")) > 0, log

    ask(page, QUESTION)
    wait_for_new_bot_message(page, 0)
    # Every reconnection presents the session the server issued on the first connection.
    assert len(sockets) >= 2, sockets
    assert session_of(sockets[0]) is None and len({session_of(u) for u in sockets[1:]}) == 1 and session_of(sockets[1]), sockets
    assert_no_js_errors(page)


def test_message_typed_while_disconnected_is_queued_and_sent_once(page: Page, chat_server):
    sent_frames: list[str] = []

    def on_socket(ws):
        ws.on("framesent", lambda payload: sent_frames.append(payload))

    page.on("websocket", on_socket)
    open_chat(page, chat_server.url)
    record_status_changes(page)

    restarter = threading.Thread(target=chat_server.restart, daemon=True)
    restarter.start()
    try:
        page.wait_for_function(
            "() => window.__statusLog.some(s => s.includes('reconnecting'))",
            timeout=15_000,
            polling=20,
        )
        ask(page, QUESTION)
        customer = role_messages(page, "customer")
        expect(customer).to_have_count(1)
        # Not connected right now: the message waits in the queue.
        assert customer.first.get_attribute("data-state") == "queued"
    finally:
        restarter.join(timeout=120)
    assert not restarter.is_alive()

    expect(tid(page, "chat-status")).to_have_text("connected", timeout=30_000)
    expect(customer.first).to_have_attribute("data-state", "sent")
    wait_for_new_bot_message(page, 0)
    time.sleep(1.0)  # a duplicate send would produce a second answer by now
    expect(role_messages(page, "bot")).to_have_count(1)
    questions = [f for f in sent_frames if json.loads(f).get("text") == QUESTION]
    assert len(questions) == 1, sent_frames
    frame = json.loads(questions[0])
    # With an id of its own, so that a repeat of it would be answered once and stored once.
    assert frame.pop("message_id") and frame == {"type": "message", "text": QUESTION}
    assert_no_js_errors(page)


def test_empty_message_is_not_sent(page: Page, chat_server):
    sent_frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda p: sent_frames.append(p)))
    open_chat(page, chat_server.url)
    tid(page, "chat-input").press("Enter")
    tid(page, "chat-input").fill("   \n  ")
    tid(page, "chat-send").click()
    page.wait_for_timeout(300)
    expect(tid(page, "chat-message")).to_have_count(0)
    assert sent_frames == []
    assert_no_js_errors(page)


def test_error_frame_shows_error_bubble(page: Page, fake_chat_server):
    chat_server = fake_chat_server
    open_chat(page, chat_server.url)
    ask(page, "trigger-error")
    err = role_messages(page, "error")
    expect(err).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(err.first).to_be_visible()
    expect(err.first).to_have_text(re.compile(r"\S"))
    expect(role_messages(page, "bot")).to_have_count(0)
    expect(tid(page, "chat-typing")).to_be_hidden()
    # The conversation goes on after an error.
    ask(page, QUESTION)
    wait_for_new_bot_message(page, 0)
    assert_no_js_errors(page)


def test_reload_continues_same_conversation(page: Page, chat_server):
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_chat(page, chat_server.url)
    ask(page, QUESTION)
    wait_for_new_bot_message(page, 0)
    conversation = tid(page, "chat-panel").get_attribute("data-conversation-id")
    assert conversation

    page.reload()
    # The panel was open before the reload, so it reopens; the transcript is restored.
    expect(tid(page, "chat-panel")).to_be_visible()
    expect(tid(page, "chat-status")).to_have_text("connected")
    expect(role_messages(page, "customer")).to_have_count(1)
    expect(role_messages(page, "bot")).to_have_count(1)
    expect(role_messages(page, "customer").first).to_contain_text(QUESTION)
    expect(tid(page, "chat-panel")).to_have_attribute("data-conversation-id", conversation)
    assert len(sockets) == 2 and session_of(sockets[0]) is None and session_of(sockets[1]), sockets
    assert_no_js_errors(page)


def test_embed_on_other_site_derives_wss_url_and_reads_config(page: Page):
    """The widget served from https://bot.example.test connects to wss://bot.example.test/ws,
    honours data-title / data-open, and data-server overrides the derived URL."""
    widget = WIDGET_JS.read_text()
    sockets = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.route(
        "https://bot.example.test/static/widget.js",
        lambda r: r.fulfill(status=200, content_type="text/javascript", body=widget),
    )
    page.route(
        "https://shop.example.test/",
        lambda r: r.fulfill(
            status=200,
            content_type="text/html",
            body=(
                "<!doctype html><title>Other shop</title><h1>Other shop</h1>"
                '<script src="https://bot.example.test/static/widget.js" '
                'data-title="Help &lt;b&gt;desk" data-open="true" defer></script>'
            ),
        ),
    )
    page.goto("https://shop.example.test/")
    expect(tid(page, "chat-panel")).to_be_visible()
    expect(page.locator("#storebot-title")).to_have_text("Help <b>desk")
    wait_for_socket(page, sockets)
    ws = urlsplit(sockets[0])
    assert (ws.scheme, ws.netloc, ws.path) == ("wss", "bot.example.test", "/ws"), sockets[0]
    expect(tid(page, "chat-status")).to_have_text(re.compile("reconnecting|connecting"))

    # data-server override.
    sockets.clear()
    page.route(
        "https://shop2.example.test/",
        lambda r: r.fulfill(
            status=200,
            content_type="text/html",
            body=(
                '<!doctype html><title>Shop 2</title><script src="https://bot.example.test/static/widget.js" '
                'data-server="https://chat.example.test:8443/support/" data-open="true" defer></script>'
            ),
        ),
    )
    page.goto("https://shop2.example.test/")
    wait_for_socket(page, sockets)
    ws = urlsplit(sockets[0])
    assert (ws.scheme, ws.netloc, ws.path) == ("wss", "chat.example.test:8443", "/support/ws"), sockets[0]
    assert_no_js_errors(page)


def test_chinese_is_typed_and_answered_in_chinese_with_its_source(page: Page, chat_server):
    """The real bot: a Chinese question gets the Chinese policy's sentence, rendered as Chinese text,
    citing the Chinese document; asking for a person in Chinese is answered in Chinese."""
    if chat_server.canned:
        pytest.skip("the fake server does not read Chinese")
    open_chat(page, chat_server.url)
    ask(page, "买的东西多少天内可以退货？")
    bot = wait_for_new_bot_message(page, 0)
    expect(bot).to_contain_text("30 天", timeout=ANSWER_TIMEOUT_MS)
    title = bot.get_by_test_id("chat-source").first.get_by_test_id("chat-source-title")
    expect(title).to_contain_text("退货")
    ask(page, "我要找人工客服")
    handoff = wait_for_new_bot_message(page, 1)
    expect(handoff).to_contain_text("客服人员", timeout=ANSWER_TIMEOUT_MS)
    assert_no_js_errors(page)
