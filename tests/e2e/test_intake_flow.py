"""An admin builds a two-question questionnaire, a patient starts it from the simulator by its
keyword and answers, and the admin sees the submission and exports it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_scopes import scope

from messaging.models import Channel
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

PATIENT = "+14155550123"


def sign_in_with_code(page, user) -> None:
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
    page.goto("/login/")
    page.fill("#id_auth-username", user.email)
    page.fill("#id_auth-password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.fill("#id_token-otp_token", f"{totp(device.bin_key):06d}")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=org-name]")


def add_question(page, key: str, kind: str, prompt: str) -> None:
    form = page.locator("[data-testid=add-question]")
    if form.get_attribute("open") is None:
        form.locator("summary").click()
    form.locator("#id_key").fill(key)
    form.locator("#id_kind").select_option(kind)
    form.locator("#id_prompt").fill(prompt)
    form.locator("[data-testid=add-question-submit]").click()
    page.wait_for_selector(f"[data-testid=questions] >> text={prompt}")


def patient_says(phone, text: str, then_expect: str) -> None:
    phone.fill("[data-testid=simulator-body]", text)
    phone.click("[data-testid=simulator-submit]")
    phone.wait_for_selector(f"[data-testid=phone-message] >> text={then_expect}")


def test_build_start_by_keyword_answer_see_and_export(page, browser, live_server, tenant_a, tmp_path: Path):
    with scope(organization=tenant_a.org):
        Channel.objects.create(organization=tenant_a.org, name="Front desk", provider="simulator",
                               address="+15005550006", webhook_secret=Channel.new_webhook_secret(),
                               rate_limit_per_second=100, is_default=True)
    sign_in_with_code(page, tenant_a.admin)

    # Build it.
    page.goto("/intake/")
    page.click("[data-testid=new-questionnaire]")
    page.fill("#id_name", "New patient welcome")
    page.fill("#id_start_keywords", "INTAKE")
    page.fill("#id_completion_message", "Thank you, see you on Thursday!")
    page.shot("questionnaire-form")
    page.click("[data-testid=save]")
    page.wait_for_selector("text=now add its questions")
    add_question(page, "first_name", "text", "What is your first name?")
    add_question(page, "smoker", "yes_no", "Do you smoke?")
    page.shot("questionnaire-built")
    detail_url = page.url

    # The patient texts the keyword from the simulator and answers.
    phone = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}).new_page()
    phone.set_default_timeout(15_000)
    phone_errors: list[str] = []
    phone.on("console", lambda msg: phone_errors.append(msg.text) if msg.type == "error" else None)
    phone.context.add_cookies(page.context.cookies())  # the same staff member plays the patient
    phone.goto("/simulator/")
    phone.fill("[data-testid=simulator-phone]", PATIENT)
    phone.click("[data-testid=simulator-use]")
    phone.wait_for_selector("[data-testid=phone]")
    patient_says(phone, "INTAKE", "What is your first name?")
    patient_says(phone, "x" * 600, "the limit is 500")
    patient_says(phone, "Ada", "Do you smoke?")
    patient_says(phone, "maybe", "please answer yes or no")
    patient_says(phone, "no", "Thank you, see you on Thursday!")
    phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)

    # Staff see the submission…
    page.goto(detail_url)
    page.click("[data-testid=submissions-link]")
    page.click("[data-testid=open-submission]")
    answers = page.inner_text("[data-testid=answers]")
    assert "What is your first name?" in answers and "Ada" in answers and "No" in answers
    page.shot("submission")
    page.click("[data-testid=mark-reviewed]")
    page.wait_for_selector("text=Marked reviewed.")

    # …and export it.
    page.goto(detail_url)
    page.click("[data-testid=submissions-link]")
    with page.expect_download() as download:
        page.click("[data-testid=export-csv]")
    content = Path(download.value.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert "What is your first name?,Do you smoke?" in text.splitlines()[0]
    assert text.splitlines()[1].endswith(",yes,Ada,No")
    assert not [e for e in page.console_errors + phone_errors if "Content Security Policy" in e]
