"""A clinic signs up, confirms its e-mail, sets up an authenticator, signs out and back in with a
code; then five wrong passwords lock sign-in. Every step is photographed (page.shot)."""

from __future__ import annotations

import re
from base64 import b32decode
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django_otp.oath import totp

pytestmark = pytest.mark.django_db(transaction=True)


EMAIL = "dana@riverside.test"
PASSWORD = "riverside-clinic-passphrase"


def _code(secret: str, drift: int = 0) -> str:
    return f"{totp(b32decode(secret), drift=drift):06d}"


def test_sign_up_verify_set_up_totp_sign_in_and_lockout(page):
    page.goto("/signup/")
    page.fill("#id_full_name", "Dana Reyes")
    page.fill("#id_email", EMAIL)
    page.fill("#id_organization_name", "Riverside Clinic")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.shot("signup-form")
    page.click("text=Create account")
    page.wait_for_selector("text=Check your inbox")
    page.shot("check-inbox")

    [message] = mail.outbox
    link = re.search(r"https?://\S+", message.body).group(0)
    page.goto(urlsplit(link).path)
    # Confirmed; an owner must set up two-factor authentication before anything else.
    page.wait_for_selector("text=Set up two-factor authentication")
    if page.locator("input[type=radio][value=generator]").count():  # SMS/WhatsApp offered: pick the app
        page.check("input[type=radio][value=generator]")
        page.click("[data-testid=wizard-next]")
    secret = page.text_content("[data-testid=totp-secret]").strip()
    # The QR code is an image our own server renders: it must load (CSP allows only 'self').
    page.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=totp-qr]');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    page.shot("totp-setup")
    page.fill("#id_generator-token", _code(secret))
    page.click("[data-testid=wizard-next]")
    page.wait_for_selector("[data-testid=two-factor-on]")
    page.shot("two-factor-on")
    page.click("[data-testid=continue]")
    page.wait_for_selector("[data-testid=org-name]")
    assert page.text_content("[data-testid=org-name]").strip() == "Riverside Clinic"

    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_selector("#id_auth-username")
    page.shot("signed-out")
    page.fill("#id_auth-username", EMAIL)
    page.fill("#id_auth-password", PASSWORD)
    page.click("[data-testid=wizard-next]")
    page.wait_for_selector("#id_token-otp_token")
    # The set-up code is spent; the next time step's code is accepted (one step of drift).
    page.fill("#id_token-otp_token", _code(secret, drift=1))
    page.shot("totp-code")
    page.click("[data-testid=wizard-next]")
    page.wait_for_selector("[data-testid=org-name]")
    page.shot("dashboard")

    page.get_by_role("button", name="Sign out", exact=True).click()
    for attempt in range(5):
        page.wait_for_selector("#id_auth-username")
        page.fill("#id_auth-username", EMAIL)
        page.fill("#id_auth-password", f"wrong-password-{attempt}")
        page.click("[data-testid=wizard-next]")
    page.wait_for_selector("[data-testid=locked-out]")
    page.shot("locked-out")
    assert "try again in" in page.text_content("main")
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
