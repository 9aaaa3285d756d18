"""The import wizard in a real browser: upload → map → progress → result, with no CSP violations."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_scopes import scope

from contacts.models import Contact, ImportJob
from tests.contacts.helpers import csv_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def csp_errors(page) -> list[str]:
    return [e for e in page.console_errors if "Content Security Policy" in e]


def test_staff_imports_a_messy_csv_through_the_wizard(page, live_server, tenant_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    sign_in(page, live_server, tenant_a.staff)
    data = b"\xef\xbb\xbf" + csv_bytes([
        ["First name", "Last name", "Mobile", "Insurer"],
        ["Marie", "Curie", "(415) 555-0142", "Aetna"],
        ["José", "García", "4155550143", "Kaiser"],
        ["Bad", "Number", "12", "None"],
        ["Marie", "Again", "+1 415 555 0142", "Aetna"],
    ], delimiter=";")
    page.goto("/contacts/import/")
    page.shot("upload")
    page.set_input_files("#import-file",
                         files=[{"name": "front-desk.csv", "mimeType": "text/csv", "buffer": data}])
    page.click("[data-testid=upload]")
    page.wait_for_selector("[data-testid=mapping-form]")
    assert page.input_value("[data-testid=map-2]") == "phone"  # "Mobile" was recognised
    assert "José" in page.text_content("table")  # the preview shows the first rows
    page.select_option("[data-testid=map-3]", "new:text")
    page.shot("map")
    page.click("[data-testid=start-import]")
    page.wait_for_selector("[data-testid=import-outcome]")  # eager mode: finished by the time we look
    page.wait_for_selector("#import-chart")
    page.shot("result")
    counts = {k: page.text_content(f"[data-testid=count-{k}]") for k in ("created", "skipped", "failed")}
    assert counts == {"created": "2", "skipped": "1", "failed": "1"}
    assert page.is_visible("[data-testid=error-file]")
    with scope(organization=tenant_a.org):
        assert Contact.objects.count() == 2
    assert csp_errors(page) == []


def test_the_progress_bar_follows_a_running_import_and_opens_the_result(page, live_server, tenant_a):
    with scope(organization=tenant_a.org):
        job = ImportJob.objects.create(organization=tenant_a.org, created_by=tenant_a.staff,
                                       file_format="csv", status=ImportJob.Status.RUNNING,
                                       total_rows=1000, processed_rows=400)
    sign_in(page, live_server, tenant_a.staff)
    page.goto(f"/contacts/import/{job.uuid}/")
    page.wait_for_function("document.querySelector('[data-testid=progress-bar]').style.width === '40%'")
    page.shot("progress-40")
    with scope(organization=tenant_a.org):  # the worker finishes meanwhile
        ImportJob.objects.filter(pk=job.pk).update(processed_rows=1000, created_count=990, failed_count=10,
                                                   status=ImportJob.Status.DONE)
    page.wait_for_selector("[data-testid=import-outcome]")  # the poller moved to the result page
    page.shot("result")
    assert page.text_content("[data-testid=count-created]") == "990"
    assert csp_errors(page) == []
