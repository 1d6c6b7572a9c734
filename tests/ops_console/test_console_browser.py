"""The console in Debian's chromium (Playwright, headless): sign in, take over a conversation and reply,
review a turn's trace, annotate it, launch a job and watch its progress, promote the version; a
screenshot of each page goes to docs/screenshots/console-*.png."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csbot.storage.db import Database
from tests.ops_console.conftest import PASSWORD, Server, Tenants, bearer, chat

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # a crowded CI machine: server round trips take seconds
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def shot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"console-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def choose(page: object, elem_id: str, value: str) -> None:
    """Pick a dropdown option by clicking it (typing then Enter raced the list's filtering and
    sometimes picked the first option: an `sft` job launched instead of `nlu`) and wait until the
    dropdown shows it."""
    from playwright.sync_api import expect

    box = page.locator(f"#{elem_id} input").first  # type: ignore[attr-defined]
    box.click()
    box.fill(value)
    page.get_by_role("option", name=value, exact=True).click()  # type: ignore[attr-defined]
    expect(box).to_have_value(value)


def fill(page: object, elem_id: str, text: str) -> None:
    page.locator(f"#{elem_id} textarea, #{elem_id} input").first.fill(text)  # type: ignore[attr-defined]


def test_console_operator_day(server: Server, tenants: Tenants, worker: object, page: object, db: Database) -> None:
    from playwright.sync_api import expect

    url = server.url
    # a customer of tenant demo asks for a person; another turn goes unanswered
    turn = chat(url, tenants.keys["demo"], "browser-1", "the courier never came by with my stuff")
    r = httpx.post(f"{url}/v1/conversations/{turn['conversation_id']}/handoff", headers=bearer(tenants.keys["demo"]),
                   json={"reason": "asked for a person"})
    assert r.status_code == 200, r.text

    page.goto(f"{url}/console/")  # type: ignore[attr-defined]
    fill(page, "login-tenant", "demo")
    fill(page, "login-username", "demo-admin")
    fill(page, "login-password", "wrong password")
    page.click("#login-submit")  # type: ignore[attr-defined]
    expect(page.locator("#login-message")).to_contain_text("Wrong tenant")  # type: ignore[attr-defined]
    shot(page, "login")
    fill(page, "login-password", PASSWORD)
    page.click("#login-submit")  # type: ignore[attr-defined]
    expect(page.locator("#console-header")).to_contain_text("(admin, tenant demo)")  # type: ignore[attr-defined]

    # Live: the waiting conversation is in the queue; take it over and reply
    expect(page.locator("#live-queue")).to_contain_text(str(turn["conversation_id"]))  # type: ignore[attr-defined]
    fill(page, "live-conversation", str(turn["conversation_id"]))
    page.click("#live-take-over")  # type: ignore[attr-defined]
    expect(page.locator("#live-status")).to_contain_text("You own conversation")  # type: ignore[attr-defined]
    fill(page, "live-reply", "Hello, this is a person from the shop. Let me check your parcel.")
    page.click("#live-send")  # type: ignore[attr-defined]
    expect(page.locator("#live-transcript")).to_contain_text("Let me check your parcel")  # type: ignore[attr-defined]
    shot(page, "live")
    history = httpx.get(f"{url}/v1/conversations/{turn['conversation_id']}", headers=bearer(tenants.keys["demo"])).json()
    assert any(m["role"] == "operator" and "check your parcel" in m["text"] for m in history["messages"])

    # Review: the turn and its trace
    page.get_by_role("tab", name="Review").click()  # type: ignore[attr-defined]
    page.click("#review-search")  # type: ignore[attr-defined]
    expect(page.locator("#review-results")).to_contain_text("courier")  # type: ignore[attr-defined]
    fill(page, "review-turn", str(turn["turn_id"]))
    page.locator("#review-turn textarea, #review-turn input").first.press("Enter")  # type: ignore[attr-defined]
    expect(page.locator("#review-trace")).to_contain_text("router_scores")  # type: ignore[attr-defined]
    shot(page, "review")

    # Annotate: the right intent for that turn
    page.get_by_role("tab", name="Annotate").click()  # type: ignore[attr-defined]
    fill(page, "ann-turn", str(turn["turn_id"]))
    page.locator("#ann-kind").get_by_text("intent", exact=True).click()  # type: ignore[attr-defined]
    fill(page, "ann-intent", "track_logistics")
    page.click("#ann-save")  # type: ignore[attr-defined]
    expect(page.locator("#ann-status")).to_contain_text("Saved intent annotation")  # type: ignore[attr-defined]
    expect(page.locator("#ann-table")).to_contain_text("track_logistics")  # type: ignore[attr-defined]
    shot(page, "annotate")

    # Knowledge and Analytics pages
    page.get_by_role("tab", name="Knowledge").click()  # type: ignore[attr-defined]
    page.get_by_role("tab", name="Lexicon").click()  # type: ignore[attr-defined]
    shot(page, "knowledge")
    page.get_by_role("tab", name="Analytics").click()  # type: ignore[attr-defined]
    page.click("#an-compute")  # type: ignore[attr-defined]
    expect(page.locator("#an-summary")).to_contain_text("turns")  # type: ignore[attr-defined]
    page.wait_for_timeout(2500)  # type: ignore[attr-defined]  # let the charts draw
    shot(page, "analytics")

    # Training: launch the NLU job and watch it to the end
    page.get_by_role("tab", name="Training").click()  # type: ignore[attr-defined]
    choose(page, "train-kind", "nlu")
    fill(page, "train-params", '{"features": "ngrams"}')
    page.click("#train-launch")  # type: ignore[attr-defined]
    expect(page.locator("#train-status")).to_contain_text("queued")  # type: ignore[attr-defined]
    seen: set[str] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        text = page.locator("#job-progress-text").inner_text()  # type: ignore[attr-defined]
        seen.add(text)
        if "succeeded" in text or "failed" in text:
            break
        time.sleep(0.5)
    assert any("succeeded — 100%" in t for t in seen), seen
    expect(page.locator("#train-log textarea")).to_have_value(re.compile("registered nlu"))  # type: ignore[attr-defined]
    page.wait_for_timeout(2500)  # type: ignore[attr-defined]  # let the loss chart draw
    shot(page, "training")

    # Registry: promote the new version
    choose(page, "models-role", "nlu")
    page.click("#models-show")  # type: ignore[attr-defined]
    expect(page.locator("#models-versions")).to_contain_text("candidate")  # type: ignore[attr-defined]
    jobs = httpx.get(f"{url}/v1/training/jobs", headers=bearer(tenants.tokens["demo-admin"])).json()
    version_id = jobs[0]["result"]["version_id"]
    fill(page, "models-version-id", version_id)
    page.click("#models-promote")  # type: ignore[attr-defined]
    expect(page.locator("#models-status")).to_contain_text("is now serving")  # type: ignore[attr-defined]
    expect(page.locator("#models-versions")).to_contain_text("serving")  # type: ignore[attr-defined]
    shot(page, "models")
    audit = httpx.get(f"{url}/v1/audit", headers=bearer(tenants.tokens["demo-admin"])).json()
    done = {a["action"] for a in audit if a["actor"] == "demo-admin"}
    assert {"conversation.accept", "conversation.reply", "annotation.create", "job.launch", "model.promote"} <= done
    assert re.fullmatch(r"[0-9a-f]{32}", version_id)
