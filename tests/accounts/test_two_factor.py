"""Two-factor authentication: who must have it, set-up, codes by SMS/WhatsApp through the hook, admin."""

from __future__ import annotations

import re
from base64 import b32decode

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor.plugins.phonenumber.models import PhoneDevice

from accounts import otp_delivery
from accounts.two_factor_gateway import MessagingGateway
from audit import AuditAction
from tests.accounts.conftest import events, post_password, post_token
from tests.conftest import otp_verify

pytestmark = pytest.mark.django_db
SETUP = "/account/two_factor/setup/"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_without_2fa_are_sent_to_set_up_before_any_page(tenant_a, role):
    client = tenant_a.client_for(role, otp_verified=False)
    for path in ["/", "/contacts/", "/org/members/", "/admin/"]:
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == SETUP, path
    assert client.get(SETUP).status_code == 200
    assert client.get("/static/css/accounts.css").status_code in (200, 404)  # never redirected
    assert client.get("/healthz").status_code in (200, 503)


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_need_no_2fa_unless_the_organisation_requires_it(tenant_a, role):
    assert tenant_a.client_for(role).get("/").status_code == 200
    tenant_a.org.require_two_factor = True
    tenant_a.org.save()
    response = tenant_a.client_for(role).get("/")
    assert response.status_code == 302 and response["Location"] == SETUP


def test_a_session_that_skipped_the_code_must_sign_in_again(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.admin, name="default", confirmed=True)
    client = tenant_a.client_for("admin", otp_verified=False)
    response = client.get("/", follow=True)
    assert "sign in again with your verification code" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_setting_up_totp_shows_a_local_qr_code_and_turns_2fa_on(tenant_a, no_otp_sender):
    client = tenant_a.client_for("owner", otp_verified=False)
    page = client.get(SETUP)
    html = page.content.decode()
    assert 'src="/account/two_factor/qrcode/"' in html
    qr = client.get("/account/two_factor/qrcode/")
    assert qr["Content-Type"].startswith("image/svg+xml")
    secret = page.context["secret_key"]
    code = f"{totp(b32decode(secret)):06d}"
    done = client.post(SETUP, {"setup_view-current_step": "generator", "generator-token": code})
    assert done.status_code == 302
    assert TOTPDevice.objects.filter(user=tenant_a.owner, confirmed=True).exists()
    assert client.get("/").status_code == 200  # verified by the set-up itself
    [added] = events(tenant_a.org, AuditAction.TWO_FACTOR_ADDED)
    assert added.detail == {"method": "totp"}


def test_backup_codes_are_generated_audited_and_sign_in(tenant_a):
    client = tenant_a.client_for("owner")
    page = client.post("/account/two_factor/backup/tokens/")
    # Shown once, in the answer that made them (the database keeps only their hashes).
    listed = re.search(r'data-testid="backup-codes">(.*?)</ul>', page.content.decode(), re.S).group(1)
    codes = re.findall(r'<li class="col">(\w+)</li>', listed)
    assert tenant_a.owner.staticdevice_set.get().token_set.count() == 10
    assert len(codes) == 10
    assert events(tenant_a.org, AuditAction.TWO_FACTOR_ADDED)[-1].detail == {"method": "backup_codes"}
    fresh = Client()
    post_password(fresh, tenant_a.owner.email)
    fresh.post("/login/", {"login_view-current_step": "token", "wizard_goto_step": "backup"})
    response = fresh.post("/login/", {"login_view-current_step": "backup", "backup-otp_token": codes[0]})
    assert response.status_code == 302
    assert fresh.get("/").status_code == 200


def test_people_who_must_have_2fa_cannot_switch_it_off(tenant_a):
    client = tenant_a.client_for("admin")
    response = client.post("/account/two_factor/disable/", {"understand": "on"}, follow=True)
    assert "requires two-factor authentication" in response.content.decode()
    assert TOTPDevice.objects.filter(user=tenant_a.admin).exists()


def test_staff_may_switch_it_off_and_it_is_audited(tenant_a):
    client = tenant_a.client_for("staff", otp_verified=True)
    client.post("/account/two_factor/disable/", {"understand": "on"})
    assert not TOTPDevice.objects.filter(user=tenant_a.staff).exists()
    assert events(tenant_a.org, AuditAction.TWO_FACTOR_REMOVED)[0].detail == {"method": "totp"}


def test_the_admin_needs_an_otp_verified_session(tenant_a):
    TOTPDevice.objects.create(user=tenant_a.admin, name="default", confirmed=True)
    unverified = Client()
    unverified.force_login(tenant_a.admin)
    assert unverified.get("/admin/").status_code == 302
    verified = Client()
    verified.force_login(tenant_a.admin)
    otp_verify(verified, tenant_a.admin)
    assert verified.get("/admin/").status_code == 200


def test_the_admin_login_page_is_ours(tenant_a):
    response = Client().get("/admin/login/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- codes by SMS and WhatsApp, through accounts.otp_delivery -------------------------------------------

@pytest.mark.parametrize(("stored", "method"), [("sms", "sms"), ("wa", "whatsapp")])
def test_the_gateway_hands_codes_to_the_registered_sender(tenant_a, otp_sender, stored, method):
    device = PhoneDevice(user=tenant_a.staff, number="+14155550100", method=stored, name="default")
    MessagingGateway().send_sms(device=device, token="123456")
    assert otp_sender.sent == [{"user": tenant_a.staff, "phone_number": "+14155550100",
                                "token": "123456", "method": method}]


def test_without_a_sender_the_gateway_raises_a_clear_error(tenant_a, no_otp_sender):
    device = PhoneDevice(user=tenant_a.staff, number="+14155550100", method="sms", name="default")
    with pytest.raises(otp_delivery.OTPDeliveryUnavailable, match="register_sender"):
        MessagingGateway().send_sms(device=device, token="123456")


def test_without_a_sender_setup_offers_only_the_authenticator_app(tenant_a, no_otp_sender):
    page = tenant_a.client_for("owner", otp_verified=False).get(SETUP)
    assert page.context["wizard"]["steps"].current == "generator"


def test_whatsapp_setup_and_sign_in_deliver_codes_through_the_sender(tenant_a, otp_sender):
    client = tenant_a.client_for("owner", otp_verified=False)
    page = client.get(SETUP).content.decode()
    assert "WhatsApp message" in page and "Text message" in page
    client.post(SETUP, {"setup_view-current_step": "method", "method-method": "wa"})
    client.post(SETUP, {"setup_view-current_step": "wa", "wa-number": "+14155550123"})
    [sent] = otp_sender.sent
    assert (sent["method"], sent["phone_number"]) == ("whatsapp", "+14155550123")
    client.post(SETUP, {"setup_view-current_step": "validation", "validation-token": sent["token"]})
    device = PhoneDevice.objects.get(user=tenant_a.owner)
    assert (device.method, device.confirmed) == ("wa", True)
    assert events(tenant_a.org, AuditAction.TWO_FACTOR_ADDED)[0].detail == {"method": "whatsapp"}
    # Signing in later sends a fresh code by WhatsApp.
    fresh = Client()
    page = post_password(fresh, tenant_a.owner.email)
    assert "WhatsApp" in page.content.decode()
    code = otp_sender.sent[-1]["token"]
    assert post_token(fresh, code).status_code == 302


def test_sign_in_without_a_sender_shows_what_to_do_instead_of_an_error(tenant_a, no_otp_sender):
    PhoneDevice.objects.create(user=tenant_a.owner, number="+14155550123", method="sms", name="default")
    page = post_password(Client(), tenant_a.owner.email)
    assert page.status_code == 200
    assert "could not send your code" in page.content.decode()
