"""The inbox page in a real Chromium against a real server (uvicorn on loopback, SQLite file).

A responder signs in, interrupts raised through the API appear without a reload (SSE), one of
each kind is answered from its card, each leaves the pending list and shows up in History with
who answered what. Screenshots of the inbox (desktop and phone width) go to test-output/.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from jeeves_control_tower.services.ids import new_interrupt_id
from jeeves_control_tower.store.sqlite import SQLiteDatabase
from jeeves_protocols import FlowInterrupt, InterruptKind
from tests.support.api_server import Api, running_api

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with running_api(SQLiteDatabase(tmp_path / "inbox.db"), over_socket=True) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        # Like PostgreSQL in tests/conftest.py: a hard failure in CI, a loud skip on a laptop.
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def raise_interrupt(api: Api, kind: str, session: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": kind, "request_id": f"req-{kind}", "user_id": "alice", "session_id": session}
    response = await api.client("agent").post("/v1/interrupts", json={**body, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def fetch(api: Api, interrupt_id: str) -> dict[str, Any]:
    response = await api.client("admin").get(f"/v1/interrupts/{interrupt_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def card(page: Page, interrupt_id: str) -> Any:
    return page.locator(f'#sessions article.card[data-id="{interrupt_id}"]')


async def sign_in(page: Page, api: Api, token: str) -> None:
    await page.goto(api.base_url + "/")
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_responder_answers_every_kind_live(api: Api, browser: Browser) -> None:
    OUTPUT.mkdir(exist_ok=True)
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx as a failed resource; the 401 (wrong token) and the 409
        # (answered elsewhere) are provoked on purpose below and shown by the page inline.
        expected = ("401 (Unauthorized)", "409 (Conflict)")
        if message.type == "error" and not any(code in message.text for code in expected):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))

    # A wrong token is refused inline and nothing else is shown.
    await sign_in(page, api, "jct_not-a-real-token")
    await expect(page.locator("#sign-in-error")).to_contain_text("not valid")
    await expect(page.locator("#pending")).to_be_hidden()

    # One interrupt exists before sign-in: it comes from the initial list.
    before = await raise_interrupt(
        api,
        "clarification",
        "sess-a",
        question="Which colour for the logo?",
        data={"options": ["Blue", "Green"]},
    )
    await page.get_by_label("Access token").fill(api.secrets["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who-name")).to_have_text("alice (responder)")
    await expect(card(page, before["id"])).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("live")

    # Raised after sign-in: each appears with no reload. Bob's never does.
    typed = await raise_interrupt(api, "clarification", "sess-b", question="Name the release?")
    confirm = await raise_interrupt(
        api,
        "confirmation",
        "sess-a",
        message="Delete 3 stale branches?",
        data={"repository": "jeeves", "branches": ["old-1", "old-2", "old-3"]},
    )
    review = await raise_interrupt(
        api,
        "agent_review",
        "sess-b",
        message="Review the drafted reply",
        data={"draft": "Hello, your refund is on its way."},
    )
    checkpoint = await raise_interrupt(api, "checkpoint", "sess-c", message="Step 3 of 5 done")
    failure = await raise_interrupt(
        api, "system_error", "sess-c", message="The search tool failed", data={"error": "HTTP 502"}
    )
    to_cancel = await raise_interrupt(api, "confirmation", "sess-c", message="Send the newsletter?")
    taken = await raise_interrupt(api, "confirmation", "sess-c", message="Answered elsewhere")
    bobs = await api.client("agent").post(
        "/v1/interrupts",
        json={
            "kind": "clarification",
            "request_id": "r",
            "user_id": "bob",
            "session_id": "sess-a",
            "question": "Bob's secret",
        },
    )
    assert bobs.status_code == 201
    mine = [before, typed, confirm, review, checkpoint, failure, to_cancel, taken]
    for item in mine:
        await expect(card(page, item["id"])).to_be_visible()
    await expect(page.locator("#sessions article.card")).to_have_count(len(mine))
    await expect(page.get_by_text("Bob's secret")).to_have_count(0)
    await expect(page.locator("#pending-count")).to_have_text(str(len(mine)))

    # Grouped by session, each group newest first; the countdown runs; data is a definition list.
    sessions = await page.locator("#sessions section.session").evaluate_all(
        "nodes => nodes.map(n => n.dataset.session)"
    )
    assert sorted(sessions) == ["sess-a", "sess-b", "sess-c"] and sessions[0] == "sess-c"
    sess_a = await page.locator('section[data-session="sess-a"] article.card').evaluate_all(
        "nodes => nodes.map(n => n.dataset.id)"
    )
    assert sess_a == [confirm["id"], before["id"]]
    await expect(card(page, confirm["id"]).locator(".countdown")).to_contain_text("left")
    await expect(card(page, confirm["id"]).locator("dl.data dd").first).to_have_text("jeeves")
    await expect(card(page, checkpoint["id"]).locator(".countdown")).to_contain_text("no expiry")

    await page.screenshot(path=str(OUTPUT / "inbox.png"), full_page=True, animations="disabled")
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(OUTPUT / "inbox-phone.png"), full_page=True, animations="disabled")
    # Nothing spills sideways on a phone.
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Dark mode follows the system setting.
    await page.emulate_media(color_scheme="dark")
    dark_background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark_background == "rgb(15, 18, 22)"
    await page.screenshot(path=str(OUTPUT / "inbox-phone-dark.png"), animations="disabled")
    await page.emulate_media(color_scheme="light")
    await page.set_viewport_size({"width": 1100, "height": 900})

    # clarification: an option button.
    await card(page, before["id"]).get_by_role("button", name="Green").click()
    await expect(card(page, before["id"])).to_have_count(0)
    # clarification: typed, sent from the keyboard (Tab to Send, Enter).
    await card(page, typed["id"]).get_by_label("Your answer").fill("Aurora")
    await card(page, typed["id"]).get_by_label("Your answer").press("Tab")
    await page.keyboard.press("Enter")
    await expect(card(page, typed["id"])).to_have_count(0)
    # confirmation: Reject, with a reason the agent receives.
    await card(page, confirm["id"]).get_by_label("Reason").fill("Not before the freeze ends")
    await card(page, confirm["id"]).get_by_role("button", name="Reject").click()
    await expect(card(page, confirm["id"])).to_have_count(0)
    rejected = (await fetch(api, confirm["id"]))["response"]
    assert rejected["approved"] is False and rejected["text"] == "Not before the freeze ends"
    # agent review: Modify needs a comment (said inline, nothing sent), then goes through.
    review_card = card(page, review["id"])
    await review_card.get_by_role("button", name="Modify").click()
    await expect(review_card.get_by_role("alert")).to_contain_text("Say what to change")
    assert (await fetch(api, review["id"]))["status"] == "pending"
    await review_card.get_by_label("Comment").fill("Add the order number")
    await review_card.get_by_role("button", name="Modify").click()
    await expect(review_card).to_have_count(0)
    # checkpoint and a notice kind: Acknowledge.
    await card(page, checkpoint["id"]).get_by_role("button", name="Acknowledge").click()
    await expect(card(page, checkpoint["id"])).to_have_count(0)
    await card(page, failure["id"]).get_by_role("button", name="Acknowledge").focus()
    await page.keyboard.press("Enter")
    await expect(card(page, failure["id"])).to_have_count(0)

    # Cancelled by the agent: the stream removes it, with no reload.
    cancelled = await api.client("agent").post(f"/v1/interrupts/{to_cancel['id']}/cancel", json={})
    assert cancelled.status_code == 200
    await expect(card(page, to_cancel["id"])).to_have_count(0)
    await expect(page.locator("#announce")).to_contain_text("cancelled")

    # Answered elsewhere while this page was not listening: the 409's detail is shown inline.
    await page.evaluate("state.stream.abort()")
    by_admin = await api.client("admin").post(
        f"/v1/interrupts/{taken['id']}/respond", json={"approved": True}
    )
    assert by_admin.status_code == 200
    await card(page, taken["id"]).get_by_role("button", name="Approve").click()
    taken_alert = card(page, taken["id"]).get_by_role("alert")
    await expect(taken_alert).to_contain_text("is resolved, not pending")  # the problem's detail
    await expect(taken_alert).to_contain_text("removed from your inbox")
    # It stays a few seconds so the message can be read, then leaves.
    await expect(card(page, taken["id"])).to_have_count(0, timeout=15_000)
    await expect(page.locator("#pending-empty")).to_be_visible()
    await expect(page.locator("#pending-count")).to_have_text("0")

    # What the server recorded is what was clicked, answered as alice.
    answers = {item["id"]: (await fetch(api, item["id"]))["response"] for item in mine[:6]}
    assert answers[before["id"]]["text"] == "Green"
    assert answers[typed["id"]]["text"] == "Aurora"
    assert answers[confirm["id"]]["approved"] is False
    assert answers[review["id"]]["decision"] == "modify"
    assert answers[review["id"]]["text"] == "Add the order number"
    assert {a["responder_id"] for a in answers.values()} == {"alice"}

    # History: who answered what, and the cancelled one.
    await page.get_by_role("button", name="History").click()
    history = page.locator("#history-list")
    for item in mine:
        await expect(history.locator(f'li[data-id="{item["id"]}"]')).to_be_visible()
    await expect(history.locator(f'li[data-id="{before["id"]}"]')).to_contain_text("answered by alice")
    await expect(history.locator(f'li[data-id="{before["id"]}"]')).to_contain_text("“Green”")
    await expect(history.locator(f'li[data-id="{confirm["id"]}"]')).to_contain_text("rejected")
    await expect(history.locator(f'li[data-id="{confirm["id"]}"]')).to_contain_text("“Not before the freeze ends”")
    await expect(history.locator(f'li[data-id="{review["id"]}"]')).to_contain_text("decision: modify")
    await expect(history.locator(f'li[data-id="{checkpoint["id"]}"]')).to_contain_text("acknowledged")
    await expect(history.locator(f'li[data-id="{to_cancel["id"]}"]')).to_contain_text("cancelled")
    await expect(history.locator(f'li[data-id="{taken["id"]}"]')).to_contain_text("answered by root")
    await expect(history.get_by_text("Bob's secret")).to_have_count(0)
    await page.screenshot(path=str(OUTPUT / "inbox-history.png"), full_page=True, animations="disabled")

    # The token lives in the tab's session: a reload stays signed in; signing out forgets it.
    await page.reload()
    await expect(page.locator("#who-name")).to_have_text("alice (responder)")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Access token")).to_be_focused()
    assert await page.evaluate("sessionStorage.getItem('jeeves.token')") is None

    await context.close()
    assert problems == [], problems


async def test_expiry_leaves_live_and_agent_text_stays_text(api: Api, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, api, api.secrets["alice"])
    await expect(page.locator("#live-state")).to_have_text("live")

    # Agent text is data, never markup; a millisecond TTL is already past when the card shows.
    markup = '<img src="x" onerror="document.title=\'owned\'">Proceed?'
    item = await raise_interrupt(
        api, "confirmation", "sess-x", message=markup, data={"note": "<b>bold?</b>"}, ttl_seconds=0.001
    )
    shown = card(page, item["id"])
    await expect(shown.get_by_role("heading")).to_have_text(markup)
    await expect(shown.locator("dl.data dd")).to_have_text("<b>bold?</b>")
    assert await shown.locator("img, b").count() == 0
    await expect(shown.locator(".countdown")).to_have_text("expiring now")

    # The server's sweep expires it; the stream takes the card away and History says so.
    assert await api.service.expire_pending() == 1
    await expect(shown).to_have_count(0)
    await expect(page.locator("#announce")).to_contain_text("expired")
    await page.get_by_role("button", name="History").click()
    await expect(page.locator(f'#history-list li[data-id="{item["id"]}"]')).to_contain_text("expired")
    assert await page.title() == "jeeves inbox"
    await context.close()


async def test_replayed_history_is_not_announced_as_new(api: Api, browser: Browser) -> None:
    # An interrupt raised and answered an hour ago, written through the real store (backdated).
    old = FlowInterrupt(
        id=new_interrupt_id(),
        kind=InterruptKind.CHECKPOINT,
        request_id="r-old",
        user_id="alice",
        session_id="sess-old",
        message="Yesterday's checkpoint",
        created_at=datetime.now(UTC) - timedelta(hours=1),
    )
    await api.service.store.create(old, "interrupt.checkpoint")
    answered = await api.client("alice").post(f"/v1/interrupts/{old.id}/respond", json={})
    assert answered.status_code == 200

    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(api.base_url + "/")
    # Every announcement, including ones overwritten a moment later.
    await page.evaluate(
        """() => { window.said = [];
        new MutationObserver(() => window.said.push(document.getElementById('announce').textContent))
          .observe(document.getElementById('announce'), {childList: true, characterData: true, subtree: true}); }"""
    )
    await page.get_by_label("Access token").fill(api.secrets["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live-state")).to_have_text("live")
    fresh = await raise_interrupt(api, "clarification", "sess-new", question="Fresh one?")
    await expect(card(page, fresh["id"])).to_be_visible()
    said = [text for text in await page.evaluate("window.said") if text]
    assert said == ["New clarification: Fresh one?"]
    await expect(page.locator("#sessions article.card")).to_have_count(1)
    await context.close()


async def test_history_pages_back_through_older_items(api: Api, browser: Browser) -> None:
    # One more than a History page: the oldest is only reachable through "Load older".
    ids = []
    for number in range(51):
        created = await api.service.create_interrupt(
            InterruptKind.CONFIRMATION, f"r-{number}", "alice", "sess-h", message=f"Old #{number}"
        )
        assert await api.service.cancel(created.id, "superseded") is not None
        ids.append(created.id)

    context = await browser.new_context()
    page = await context.new_page()
    await sign_in(page, api, api.secrets["alice"])
    await page.get_by_role("button", name="History").click()
    history = page.locator("#history-list li")
    await expect(history).to_have_count(50)
    await expect(page.locator(f'#history-list li[data-id="{ids[0]}"]')).to_have_count(0)
    await page.get_by_role("button", name="Load older").click()
    await expect(history).to_have_count(51)
    await expect(page.locator(f'#history-list li[data-id="{ids[0]}"]')).to_contain_text("Old #0")
    await expect(page.get_by_role("button", name="Load older")).to_be_hidden()

    # The token is revoked meanwhile: a reload lands on the sign-in form, saying why.
    (alice,) = [record for record in await api.tokens.list() if record.user_id == "alice"]
    assert await api.tokens.revoke(alice.id)
    await page.reload()
    await expect(page.locator("#sign-in-error")).to_have_text("Your session's token is no longer valid.")
    await expect(page.locator("#pending")).to_be_hidden()
    await context.close()


CONTRAST_JS = """([selector, property, behind]) => {
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const node = document.querySelector(selector);
  const fore = lum(rgb(getComputedStyle(node)[property]));
  const back = lum(rgb(getComputedStyle(document.querySelector(behind)).backgroundColor));
  return (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_focus_and_fields_stand_out_and_the_title_counts_what_waits(
    api: Api, browser: Browser, scheme: str
) -> None:
    """WCAG 1.4.11: the focus ring and input borders at 3:1 against what is behind them (the
    light theme had 2.05:1 and 1.38:1); the tab's title says how many interrupts wait."""
    page = await browser.new_page(color_scheme=scheme)  # type: ignore[arg-type]
    await page.goto(api.base_url + "/")
    token = page.get_by_label("Access token")
    await token.focus()
    assert await page.evaluate("document.querySelector('#token').matches(':focus-visible')")
    assert await page.evaluate("getComputedStyle(document.querySelector('#token')).outlineStyle") == "solid"
    assert await page.evaluate(CONTRAST_JS, ["#token", "outlineColor", "body"]) >= 3
    assert await page.evaluate(CONTRAST_JS, ["#token", "borderTopColor", "body"]) >= 3
    await raise_interrupt(api, "clarification", "s-title", question="Which region?")
    await raise_interrupt(api, "confirmation", "s-title", question="Deploy?")
    await sign_in(page, api, api.secrets["alice"])
    await expect(page).to_have_title("(2) jeeves inbox")
    # What focus scrolls to stops below the sticky header, not under it.
    covered = await page.evaluate("""() => document.querySelector('header').getBoundingClientRect().height
        <= parseFloat(getComputedStyle(document.documentElement).scrollPaddingTop)""")
    assert covered
    await page.close()


async def test_edit_with_the_schema_form_then_see_the_history(api: Api, browser: Browser) -> None:
    """A confirmation with a response_schema renders its action as a form prefilled with the
    proposal; the responder edits it, reviews the diff, approves the edit; the agent's consume
    of the edited action shows in the card's History; an expiry's rejection says it was one."""
    OUTPUT.mkdir(exist_ok=True)
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "422" not in m.text else None)
    schema = {
        "properties": {
            "action": {
                "properties": {
                    "amount": {"type": "number", "maximum": 500},
                    "currency": {"enum": ["EUR", "USD"]},
                    "notify": {"type": "boolean"},
                    "orders": {"type": "array", "items": {"type": "string"}},
                }
            }
        }
    }
    proposal = {"amount": 900, "currency": "EUR", "notify": False, "orders": ["A-17"]}
    asked = await raise_interrupt(
        api, "confirmation", "sess-edit", message="Refund the customer?",
        data={"action": proposal}, response_schema=schema,
    )
    await sign_in(page, api, api.secrets["alice"])
    refund = card(page, asked["id"])
    await expect(refund).to_be_visible()
    await expect(refund.locator(".origin")).to_contain_text("asked by agent-bot")
    await expect(refund.locator(".origin")).to_contain_text("request req-confirmation")
    amount = refund.get_by_label("amount")
    await expect(amount).to_have_value("900")
    await expect(refund.get_by_label("currency")).to_have_value('"EUR"')
    await expect(refund.get_by_label("orders")).to_have_value("A-17")

    # Past the schema's maximum: the server refuses it, naming the field, and the card stays.
    await amount.fill("9000")
    await refund.get_by_role("button", name="Review changes").click()
    await expect(refund.locator(".diff")).to_contain_text("amount: 900 → 9000")
    await refund.get_by_role("button", name="Approve with changes").click()
    await expect(refund.locator("p.error")).to_contain_text("data.action.amount")

    await amount.fill("400")
    await refund.get_by_label("notify").check()
    await refund.get_by_label("orders").fill("A-17\nA-18")
    await refund.get_by_role("button", name="Review changes").click()
    diff = refund.locator(".diff")
    await expect(diff).to_contain_text("amount: 900 → 400")
    await expect(diff).to_contain_text("notify: false → true")
    await expect(diff).to_contain_text('orders: ["A-17"] → ["A-17","A-18"]')
    await page.screenshot(path=str(OUTPUT / "inbox-edit-and-approve.png"), full_page=True)
    await refund.get_by_role("button", name="Approve with changes").click()
    await expect(refund).to_have_count(0)

    # An agent gives a pending request more time: its card's countdown follows, live.
    slow = await raise_interrupt(api, "confirmation", "sess-edit", message="Restart the cluster?",
                                 ttl_seconds=600)
    slow_card = card(page, slow["id"])
    await expect(slow_card).to_be_visible()
    moved = await api.client("agent").post(f"/v1/interrupts/{slow['id']}/extend", json={"by_seconds": 3000})
    assert moved.status_code == 200, moved.text
    await expect(slow_card.locator(".countdown")).to_have_attribute("data-expires", moved.json()["expires_at"])
    await expect(slow_card.locator(".countdown")).to_contain_text("59:")  # an hour now, not ten minutes
    await slow_card.locator("summary", has_text="History").click()
    await expect(slow_card.locator(".events li")).to_have_count(2)
    await expect(slow_card.locator(".events li").nth(1)).to_contain_text("deadline extended to")

    answered = await fetch(api, asked["id"])
    edited = {"amount": 400, "currency": "EUR", "notify": True, "orders": ["A-17", "A-18"]}
    assert answered["response"]["approved"] is True and answered["response"]["data"] == {"action": edited}
    assert answered["response"]["via"] == "inbox" and answered["response"]["responder_id"] == "alice"
    assert answered["data"] == {"action": proposal}  # the proposal is kept beside the edit
    used = await api.client("agent").post(f"/v1/interrupts/{asked['id']}/consume", json={"action": edited})
    assert used.status_code == 200, used.text

    timed_out = await raise_interrupt(api, "confirmation", "sess-edit", message="Rotate keys?",
                                      on_expire="reject", ttl_seconds=0.5)
    await page.get_by_role("button", name="History").first.click()
    await expect(page.locator(f'.past[data-id="{asked["id"]}"] .status')).to_have_text("answered by alice via inbox")
    past = page.locator(f'.past[data-id="{asked["id"]}"]')
    await expect(past.locator(".used")).to_contain_text("Approval used by the agent")
    await past.locator("summary", has_text="History").click()
    events = past.locator(".events li")
    await expect(events).to_have_count(3)
    await expect(events.nth(0)).to_contain_text("raised by agent-bot for alice")
    await expect(events.nth(1)).to_contain_text("answered by alice via inbox")
    await expect(events.nth(2)).to_contain_text("approval used by the agent")
    await asyncio.sleep(0.6)
    assert await api.service.expire_pending() == 1  # the sweep's outcome: a rejection, not a human's
    expired = page.locator(f'.past[data-id="{timed_out["id"]}"] .status')
    await expect(expired).to_have_text("rejected by its expiry", timeout=10_000)
    await page.screenshot(path=str(OUTPUT / "inbox-history-of-an-approval.png"), full_page=True)
    assert problems == []
    await context.close()


async def test_an_admin_sees_who_waits_on_what(api: Api, browser: Browser) -> None:
    """The admins' view of every pending interrupt by kind, user and age; responders have none."""
    for kind, user in (("confirmation", "alice"), ("confirmation", "bob"), ("clarification", "bob")):
        body = {"kind": kind, "request_id": f"w-{kind}-{user}", "user_id": user, "session_id": "w",
                "question": "q?"}
        assert (await api.client("agent").post("/v1/interrupts", json=body)).status_code == 201
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, api, api.secrets["alice"])
    await expect(page.locator("#who-name")).to_have_text("alice (responder)")
    await expect(page.get_by_role("button", name="Who waits")).to_be_hidden()
    await page.get_by_role("button", name="Sign out").click()

    await page.get_by_label("Access token").fill(api.secrets["admin"])
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Who waits").click()
    await expect(page.locator("#waiting-total")).to_contain_text("3 pending")
    by_user = page.locator("table.counts", has=page.locator("caption", has_text="By user"))
    await expect(by_user.locator("tbody tr").nth(0)).to_contain_text("bob")
    await expect(by_user.locator("tbody tr").nth(0)).to_contain_text("2")
    by_kind = page.locator("table.counts", has=page.locator("caption", has_text="By kind"))
    await expect(by_kind).to_contain_text("Confirmation")
    by_age = page.locator("table.counts", has=page.locator("caption", has_text="By age"))
    await expect(by_age.locator("tbody tr").nth(0)).to_contain_text("under an hour3")
    await page.screenshot(path=str(OUTPUT / "inbox-who-waits.png"), full_page=True)
    assert errors == []
    await context.close()


async def test_a_group_member_gets_the_groups_interrupts_live(api: Api, browser: Browser) -> None:
    """An interrupt for bob that names the ops group reaches carol (in ops) live and she answers
    it; dave (in finance) never sees it."""
    carol_secret, _ = await api.tokens.create("carol", "responder", ["ops"])
    dave_secret, _ = await api.tokens.create("dave", "responder", ["finance"])
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    carol, dave = await context.new_page(), await context.new_page()
    await sign_in(carol, api, carol_secret)
    await sign_in(dave, api, dave_secret)
    for page in (carol, dave):
        await expect(page.locator("#live-state")).to_have_text("live")
    asked = await api.client("agent").post("/v1/interrupts", json={
        "kind": "confirmation", "request_id": "grp", "user_id": "bob", "session_id": "sess-grp",
        "message": "Fail over the database?", "responders": {"groups": ["ops"]},
    })
    assert asked.status_code == 201, asked.text
    interrupt_id = asked.json()["id"]
    theirs = card(carol, interrupt_id)
    await expect(theirs).to_be_visible()
    await theirs.get_by_role("button", name="Approve").click()
    await expect(theirs).to_have_count(0)
    answered = await fetch(api, interrupt_id)
    assert answered["response"]["responder_id"] == "carol" and answered["response"]["via"] == "inbox"
    await expect(dave.locator("#pending-count")).to_have_text("0")
    assert await card(dave, interrupt_id).count() == 0
    await context.close()
