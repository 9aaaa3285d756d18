"""A campaign end to end in the browser: a personalised template → a campaign → preview → send →
the progress bar reaches 100 % live → the funnel shows delivered (the simulator's carrier receipt)
→ the patient's reply in the simulator lands in the inbox, under the campaign's message."""

from __future__ import annotations

import pytest
from django.conf import settings
from django_scopes import scope

from messaging.models import Channel
from tests.campaigns.conftest import billing_contract  # noqa: F401 - billing's interface (stand-in)
from tests.e2e.conftest import open_sending_window
from tests.e2e.test_inbox_simulator import shot_phone, sign_in
from tests.factories import ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("billing_contract")]
PATIENT = "+14155550123"


def test_a_personalised_campaign_is_sent_tracked_and_answered(page, browser, live_server, tenant_a):
    with scope(organization=tenant_a.org):
        Channel.objects.create(organization=tenant_a.org, name="Front desk", provider="simulator",
                               address="+15005550006", webhook_secret=Channel.new_webhook_secret(),
                               rate_limit_per_second=100, is_default=True)
        ContactFactory(organization=tenant_a.org, first_name="Ada", last_name="Lovelace", phone=PATIENT,
                       timezone="UTC", sms_opted_in=True)
    open_sending_window(tenant_a.org)
    # Admins sign in with a second factor: the browser takes an OTP-verified admin session.
    session = tenant_a.client_for("admin").cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session,
                               "url": live_server.url}])

    # A personalised template, with its live preview.
    page.goto("/campaigns/templates/new/")
    page.fill("#id_name", "Flu shot")
    body = 'Hi {{ first_name | "there" }}, your flu shot is due at {{ organisation }}.'
    page.fill("#id_variant-body", body)
    page.wait_for_selector("[data-testid=live-preview] >> text=Hi Alex")
    page.click("[data-testid=save-template]")
    page.wait_for_selector("[data-testid=variants]")
    page.shot("template")

    # The campaign: care, on the simulator channel, everyone eligible.
    page.goto("/campaigns/new/")
    page.fill("#id_name", "Autumn flu shots")
    page.check("input[name=kind][value=care]")
    page.locator("form", has=page.locator("#id_name")).locator("button[type=submit]").click()
    page.wait_for_url("**/edit/")
    page.locator("form", has=page.locator("#id_name")).locator("button[type=submit]").first.click()
    page.wait_for_selector("[data-testid=campaign-progress]")

    # Preview for Ada, then send.
    page.fill("#id_contact", PATIENT)
    page.click("[data-testid=preview-button]")
    page.wait_for_selector("[data-testid=preview] >> text=Hi Ada, your flu shot is due at")
    page.shot("preview")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=send-now]")
    page.wait_for_selector("[data-testid=progress-percent] >> text=100%")
    page.shot("sent")

    # The patient's phone: the campaign message arrived; the carrier reports it delivered.
    phone_context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    phone_context.set_default_timeout(15_000)
    phone = phone_context.new_page()
    try:
        sign_in(phone, tenant_a.staff)
        phone.goto("/simulator/")
        phone.fill("[data-testid=simulator-phone]", PATIENT)
        phone.click("[data-testid=simulator-use]")
        bubble = phone.locator("[data-testid=phone-message]", has_text="Hi Ada, your flu shot is due")
        bubble.wait_for()
        bubble.locator("[data-receipt]").select_option("delivered")
        phone.wait_for_load_state()
        shot_phone(page, phone, "delivered")

        # The campaign page (not reloaded) shows delivered in its funnel.
        page.evaluate("window.__stillSamePage = true")
        page.wait_for_selector("[data-testid=funnel-delivered] >> text=1 (100%)")
        assert page.evaluate("window.__stillSamePage === true")
        page.shot("funnel-delivered")

        # The patient answers; the reply is in the inbox under the campaign's message.
        phone.fill("[data-testid=simulator-body]", "Can I come on Friday instead?")
        phone.click("[data-testid=simulator-submit]")
        phone.wait_for_selector("[data-testid=phone-message] >> text=Friday instead")
        page.wait_for_selector("[data-field=replied] >> text=1")
        page.click("[data-testid=recipients-link]")
        page.click("[data-testid=reply-link]")
        thread = page.locator("[data-testid=thread]")
        thread.locator("[data-testid=message]", has_text="Can I come on Friday instead?").wait_for()
        texts = thread.locator("[data-testid=message]").all_inner_texts()
        campaign_at = next(i for i, t in enumerate(texts) if "your flu shot is due" in t)
        reply_at = next(i for i, t in enumerate(texts) if "Friday instead" in t)
        assert campaign_at < reply_at
        page.shot("reply-in-inbox")
        csp = [e for e in page.console_errors if "Content Security Policy" in e]
        assert not csp
    finally:
        phone_context.close()
