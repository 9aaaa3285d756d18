"""A person signs in and lands on their organisation's dashboard, with no CSP violations."""

import pytest

from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_owner_signs_in_and_sees_their_organisation(page, tenant_a):
    page.goto("/login/")
    page.fill("#id_username", tenant_a.owner.email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.shot("login")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=org-name]")
    page.shot("dashboard")
    assert page.text_content("[data-testid=org-name]").strip() == "Org A Clinic"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]
