"""Staff inbox ↔ patient simulator in two browsers: messages cross both ways without a reload,
the live segment counter agrees with messaging/segments.py, and a STOP is respected."""

from __future__ import annotations

import pytest
from django_scopes import scope

from messaging.models import Channel
from messaging.segments import count_segments
from tests.factories import DEFAULT_PASSWORD, ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

PATIENT = "+14155550101"

# Strings the browser counter and the Python counter must cost the same.
SEGMENT_CASES = [
    "",
    "Hello",
    "a" * 160,
    "a" * 161,
    "€" * 80,  # extension characters: two septets each → 160 septets, one SMS
    "€" * 81,
    "[" + "a" * 152 + "]",
    "Price: 5€ {promo} ~ok~ ^^ | \\ \f",
    "Zoë's appointment @ 9:30 — see you",  # em dash → UCS-2
    "😊" * 35,
    "a" * 66 + "😊" + "b" * 10,  # a surrogate pair never split across parts
    "Line one\nLine two\rÇ Øø ÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ ¡¿ ÄÖÑÜ§ äöñüà",
    "x" * 153 * 3 + "€",
]


def sign_in(page, user) -> None:
    page.goto("/login/")
    page.fill("#id_auth-username", user.email)
    page.fill("#id_auth-password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=org-name]")


def shot_phone(page, phone, step: str) -> None:
    """The simulator's screenshot, next to the staff page's steps (kept on failure)."""
    page.folder.mkdir(parents=True, exist_ok=True)
    phone.screenshot(path=str(page.folder / f"phone-{step}.png"), full_page=True)


def mark_no_reload(page) -> None:
    """A flag that survives only as long as the page is not reloaded."""
    page.evaluate("window.__stillSamePage = true")


def assert_not_reloaded(page) -> None:
    assert page.evaluate("window.__stillSamePage === true"), "the page was reloaded"


def test_staff_and_patient_talk_live_and_stop_is_respected(page, browser, live_server, tenant_a):
    with scope(organization=tenant_a.org):
        Channel.objects.create(organization=tenant_a.org, name="Front desk", provider="simulator",
                               address="+15005550006", webhook_secret=Channel.new_webhook_secret(),
                               rate_limit_per_second=100, is_default=True)
        ContactFactory(organization=tenant_a.org, first_name="Ada", last_name="Lovelace", phone=PATIENT)

    # The patient's phone: a second browser, the same staff member playing the patient.
    sim_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    sim_context.set_default_timeout(15_000)
    phone = sim_context.new_page()
    sim_errors: list[str] = []
    phone.on("console", lambda msg: sim_errors.append(msg.text) if msg.type == "error" else None)
    try:
        # Staff watch an empty inbox; the patient's first text must appear in it live.
        sign_in(page, tenant_a.staff)
        page.goto("/inbox/")
        mark_no_reload(page)
        page.shot("inbox-empty")

        sign_in(phone, tenant_a.staff)
        phone.goto("/simulator/")
        phone.fill("[data-testid=simulator-phone]", PATIENT)
        phone.click("[data-testid=simulator-use]")
        phone.wait_for_selector("[data-testid=phone]")
        assert PATIENT not in phone.url  # the number travels in the POST body and session only
        phone.fill("[data-testid=simulator-body]", "Hi, can I move my Thursday appointment?")
        phone.click("[data-testid=simulator-submit]")
        phone.wait_for_selector("[data-testid=phone-message] >> text=move my Thursday appointment")
        shot_phone(page, phone, "simulator-first-text")

        # Staff: the conversation arrived in the open inbox, with its unread counts.
        row = page.locator("[data-conversation]", has_text="Ada Lovelace")
        row.wait_for()
        assert_not_reloaded(page)
        assert row.locator("[data-testid=row-unread]").inner_text() == "1"
        assert page.inner_text("[data-testid=nav-unread]") == "1"
        page.shot("inbox-live")
        row.click()
        page.wait_for_selector("[data-testid=thread] >> text=move my Thursday appointment")
        page.shot("thread-opened")

        # The live counter in the browser costs texts exactly like messaging/segments.py.
        for text in SEGMENT_CASES:
            browser_count = page.evaluate("text => window.CareRelaySegments.count(text)", text)
            python_count = count_segments(text)
            assert (browser_count["encoding"], browser_count["segments"], browser_count["units"],
                    browser_count["remaining"], browser_count["characters"]) == (
                python_count.encoding, python_count.segments, python_count.units, python_count.remaining,
                python_count.characters), text
        page.fill("[data-testid=reply-body]", "a" * 161)
        assert page.inner_text("[data-testid=segment-counter]").startswith("161 characters · 2 SMS")
        page.fill("[data-testid=reply-body]", "Friday 9:30 works — see you then 😊")
        counter = page.inner_text("[data-testid=segment-counter]")
        assert "1 SMS" in counter and "Unicode" in counter
        page.shot("reply-typed")

        # Staff reply → the phone shows it without a reload.
        page.click("[data-testid=send-reply]")
        page.wait_for_selector("[data-testid=message] >> text=Friday 9:30 works")
        mark_no_reload(phone)
        phone.wait_for_selector("[data-testid=phone-message] >> text=Friday 9:30 works")
        assert_not_reloaded(phone)
        shot_phone(page, phone, "simulator-got-reply")
        page.shot("reply-sent")

        # Patient answers → the open thread shows it without a reload, as text (never HTML).
        mark_no_reload(page)
        phone.fill("[data-testid=simulator-body]", 'Perfect <img src=x data-x="1"> thanks!')
        phone.click("[data-testid=simulator-submit]")
        answer = page.locator("[data-testid=message]", has_text="Perfect <img src=x")
        answer.wait_for()
        assert_not_reloaded(page)
        assert answer.locator("img").count() == 0
        page.shot("patient-answer-live")

        # STOP from the phone → the thread shows the opt-out live; a reply is refused, clearly.
        phone.fill("[data-testid=simulator-body]", "STOP")
        phone.click("[data-testid=simulator-submit]")
        phone.wait_for_selector("[data-testid=phone-message] >> text=unsubscribed")
        shot_phone(page, phone, "simulator-stop")
        page.wait_for_selector("[data-testid=thread] >> text=STOP")
        page.wait_for_selector("[data-testid=opted-out]", state="visible")
        assert_not_reloaded(page)
        page.shot("opted-out-live")
        page.fill("[data-testid=reply-body]", "Are you sure?")
        page.click("[data-testid=send-reply]")
        refusal = page.inner_text("[data-testid=send-refused]")
        assert "Not sent." in refusal and "opted out" in refusal and "START" in refusal
        assert page.input_value("[data-testid=reply-body]") == "Are you sure?"  # the draft is kept
        page.shot("reply-refused")
        phone.wait_for_timeout(3000)  # one more poll: nothing new reached the phone
        assert phone.locator("[data-testid=phone-message]", has_text="Are you sure?").count() == 0

        csp = [e for e in page.console_errors + sim_errors if "Content Security Policy" in e]
        assert not csp
    finally:
        sim_context.close()
