"""A person signs in and lands on their organisation's dashboard, with no CSP violations."""

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)



def test_owner_signs_in_and_sees_their_organisation(page, tenant_a):
    # Owners must use two-factor authentication: this one has an authenticator app already.
    device = TOTPDevice.objects.create(user=tenant_a.owner, name="default", confirmed=True)
    page.goto("/login/")
    page.fill("#id_auth-username", tenant_a.owner.email)
    page.fill("#id_auth-password", DEFAULT_PASSWORD)
    page.shot("login")
    page.click("button[type=submit]")
    page.fill("#id_token-otp_token", f"{totp(device.bin_key):06d}")
    page.shot("code")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=org-name]")
    page.shot("dashboard")
    assert page.text_content("[data-testid=org-name]").strip() == "Org A Clinic"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
