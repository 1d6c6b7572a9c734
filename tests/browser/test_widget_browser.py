"""The widget in a real browser on a shop page of another origin, against a real `csbot serve`."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import pytest

from csbot.channels.visitors import user_hash
from tests.browser.conftest import SCREENSHOTS, Installation

pytestmark = pytest.mark.browser

W = "#csbot-widget"  # Playwright's CSS engine pierces the open shadow root
FAQ = "运费怎么算？"


def open_shop(page: Any, inst: Installation, **params: str) -> list[dict[str, Any]]:
    """Load the demo shop page, open the widget, and collect the widget's WebSocket frames."""
    frames: list[dict[str, Any]] = []

    def on_ws(ws: Any) -> None:
        ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", on_ws)
    page.goto(f"{inst.demo_base}/?{urlencode(params)}")
    page.wait_for_function("() => { const h = document.querySelector('#csbot-widget');"
                           " return h && h.shadowRoot && h.shadowRoot.querySelector('.w').dataset.identity; }",
                           timeout=30_000)
    page.locator(f"{W} .launcher").click()
    wait_frame(page, frames, lambda f: f["type"] == "ready")
    return frames


def wait_frame(page: Any, frames: list[dict[str, Any]], pred: Any, timeout: float = 60) -> dict[str, Any]:
    """Playwright's sync API delivers WebSocket events only while it runs, so wait with it, not time.sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in frames:
            if pred(f):
                return f
        page.wait_for_timeout(50)
    raise AssertionError(f"no such frame among {[f['type'] for f in frames]}")


def ask(page: Any, text: str) -> None:
    box = page.locator(f"{W} textarea")
    box.fill(text)
    box.press("Enter")


def stored_messages(page: Any) -> list[tuple[str, str]]:
    return [(el.get_attribute("data-role"), el.inner_text().strip())
            for el in page.locator(f"{W} [data-id]").all()]


def test_faq_answer_streams_into_widget_loaded_from_csbot_origin(page: Any, installation: Installation) -> None:
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.url.endswith("/widget.js") else None)
    frames = open_shop(page, installation)
    assert urlparse(page.url).netloc != urlparse(installation.api_base).netloc
    assert scripts and scripts[0] == f"{installation.api_base}/widget.js"
    ask(page, FAQ)
    reply = wait_frame(page, frames, lambda f: f["type"] == "reply", timeout=120)
    deltas = [f for f in frames if f["type"] == "delta" and f["turn_id"] == reply["turn_id"]]
    assert len(deltas) >= 2, "the answer arrives in pieces"
    assert "".join(d["text"] for d in deltas) == reply["text"]
    assert reply["source"] == "kb" and "99" in reply["text"], reply
    bot = page.locator(f"{W} .msg.bot[data-id]").last
    bot.wait_for(timeout=30_000)
    assert "99" in bot.inner_text()
    assert page.locator(f"{W} .msg.user[data-id]").last.inner_text().strip() == FAQ
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))
    # the shop's loud global CSS (`button { background: lime !important }`) does not reach the widget
    send_bg = page.locator(f"{W} .send").evaluate("el => getComputedStyle(el).backgroundColor")
    assert send_bg != "rgb(0, 255, 0)"
    # reload: the same visitor gets the same conversation back, each message once
    before = stored_messages(page)
    page.reload()
    page.locator(f"{W} .launcher").click()
    page.locator(f"{W} .msg.bot[data-id]").last.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)  # let the socket's sync arrive too: it must not duplicate anything
    assert stored_messages(page) == before
    assert not page.errors


def test_suggestion_button_sends_its_question(page: Any, installation: Installation) -> None:
    frames = open_shop(page, installation)
    ask(page, "会员")
    wait_frame(page, frames, lambda f: f["type"] == "reply", timeout=120)
    sug = page.locator(f"{W} .sug").first
    sug.wait_for(timeout=30_000)
    label = sug.inner_text().strip()
    sug.click()
    deadline = time.monotonic() + 120
    while len([f for f in frames if f["type"] == "reply"]) < 2:
        assert time.monotonic() < deadline, "the suggestion got no reply"
        page.wait_for_timeout(50)
    second = [f for f in frames if f["type"] == "reply"][1]
    assert second["text"], "the suggestion got an answer"
    users = page.locator(f"{W} .msg.user").all_inner_texts()
    assert users[-1].strip() == label


def test_markup_in_messages_is_shown_as_text(page: Any, installation: Installation) -> None:
    frames = open_shop(page, installation)
    payload = '<img src=x onerror="window.__pwned=1">'
    ask(page, payload)
    wait_frame(page, frames, lambda f: f["type"] == "message" and f["message"]["role"] == "user", timeout=120)
    page.locator(f"{W} .msg.user[data-id]").last.wait_for()
    assert page.locator(f"{W} .msg.user .bubble").last.inner_text().strip() == payload
    assert page.locator(f"{W} img").count() == 0
    # an operator message with HTML and markdown: the markdown subset renders, the HTML stays text
    conv = wait_frame(page, frames, lambda f: f["type"] == "reply", timeout=120)["conversation_id"]
    op = installation.operator_headers()
    assert httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/accept", headers=op,
                      timeout=30).status_code == 200
    text = '**订单已发货** <script>window.__pwned=2</script><img src=x onerror="window.__pwned=3"> 详情 [查看](https://example.com/o/1)'
    assert httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/messages", json={"text": text},
                      headers=op, timeout=30).status_code == 201
    bubble = page.locator(f"{W} .msg.operator .bubble").last
    bubble.wait_for(timeout=30_000)
    assert bubble.locator("strong").inner_text() == "订单已发货"
    assert bubble.locator("a").get_attribute("href") == "https://example.com/o/1"
    assert "<script>" in bubble.inner_text() and bubble.locator("script, img").count() == 0
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/release", headers=op, timeout=30)


def test_wrong_user_hash_is_refused_and_widget_stays_anonymous(page: Any, installation: Installation) -> None:
    open_shop(page, installation, user_id="shopper-1", user_hash="0" * 64)
    w = page.locator(f"{W} .w")
    assert w.get_attribute("data-identity") == "refused"
    assert page.locator(f"{W} .notice").is_visible()
    frames = open_shop(page, installation, user_id="shopper-1",
                       user_hash=user_hash(installation.identity_secret, "shopper-1"))
    assert page.locator(f"{W} .w").get_attribute("data-identity") == "verified"
    assert wait_frame(page, frames, lambda f: f["type"] == "ready")["user_id"] == "shopper-1"


def test_operator_message_during_handoff_appears_live(page: Any, installation: Installation) -> None:
    frames = open_shop(page, installation)
    page.locator(f"{W} .human").click()
    wait_frame(page, frames, lambda f: f["type"] == "status" and f["status"] == "handoff")
    op = installation.operator_headers()
    queue = httpx.get(f"{installation.api_base}/v1/operator/queue", headers=op, timeout=30).json()["waiting"]
    ready = wait_frame(page, frames, lambda f: f["type"] == "ready")
    conv = next(q["conversation_id"] for q in queue if q["session_id"] == ready["session_id"])
    httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/accept", headers=op, timeout=30)
    page.locator(f"{W} .sub", has_text="小美").wait_for(timeout=30_000)
    r = httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/messages",
                   json={"text": "您好，我是客服小美，请问有什么可以帮您？"}, headers=op, timeout=30)
    assert r.status_code == 201
    msg = page.locator(f"{W} .msg.operator[data-id='{r.json()['id']}']")
    msg.wait_for(timeout=30_000)
    assert "小美" in msg.locator(".who").inner_text() and "请问有什么可以帮您" in msg.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "widget-handoff.png"))
    # the bot stays silent while the operator answers
    ask(page, FAQ)
    silent = wait_frame(page, frames, lambda f: f["type"] == "reply", timeout=120)
    assert silent["silent"] is True
    httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/close", headers=op, timeout=30)


def test_mobile_width_and_keyboard(browser: Any, installation: Installation) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN", is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{installation.demo_base}/")
        page.locator(f"{W} .launcher").wait_for(timeout=30_000)
        page.locator(f"{W} .launcher").focus()
        page.keyboard.press("Enter")
        panel = page.locator(f"{W} .panel")
        panel.wait_for()
        box = panel.bounding_box()
        assert box is not None and box["width"] == 375, "full width on a phone"
        ask(page, FAQ)
        page.locator(f"{W} .msg.bot[data-id]").last.wait_for(timeout=120_000)
        page.screenshot(path=str(SCREENSHOTS / "widget-mobile.png"))
        page.keyboard.press("Escape")
        assert not panel.is_visible()
    finally:
        context.close()


def test_handoff_survives_a_server_restart(page: Any, installation: Installation) -> None:
    """Runs last (it restarts the shared server): the widget reconnects, misses nothing, repeats nothing."""
    frames = open_shop(page, installation)
    page.locator(f"{W} .human").click()
    wait_frame(page, frames, lambda f: f["type"] == "status" and f["status"] == "handoff")
    op = installation.operator_headers()
    session_id = wait_frame(page, frames, lambda f: f["type"] == "ready")["session_id"]
    queue = httpx.get(f"{installation.api_base}/v1/operator/queue", headers=op, timeout=30).json()["waiting"]
    conv = next(q["conversation_id"] for q in queue if q["session_id"] == session_id)
    httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/accept", headers=op, timeout=30)
    first = httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/messages",
                       json={"text": "我先帮您查一下订单"}, headers=op, timeout=30).json()
    page.locator(f"{W} [data-id='{first['id']}']").wait_for(timeout=30_000)

    installation.stop_api()
    page.locator(f"{W} .notice").wait_for(state="visible", timeout=30_000)
    installation.start_api()
    # written while the widget may still be waiting to reconnect: it arrives live or by the seq catch-up
    second = httpx.post(f"{installation.api_base}/v1/operator/conversations/{conv}/messages",
                        json={"text": "查到了，明天送达"}, headers=op, timeout=60).json()
    page.locator(f"{W} [data-id='{second['id']}']").wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    ids = [el.get_attribute("data-id") for el in page.locator(f"{W} [data-id]").all()]
    assert len(ids) == len(set(ids)), "no message shown twice"
    texts = page.locator(f"{W} .msg.operator .bubble").all_inner_texts()
    assert texts == ["我先帮您查一下订单", "查到了，明天送达"]
    assert "小美" in page.locator(f"{W} .sub").inner_text(), "still shows who answers"
