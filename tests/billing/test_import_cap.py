"""An import over the plan's contact cap imports what fits, reports the rest by row number on
the result page and in the error file, and two imports racing for the last places share them."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from contacts.models import Contact
from tests.billing.conftest import put_on_plan
from tests.contacts.helpers import csv_bytes, error_rows, run_file

pytestmark = pytest.mark.django_db

HEADER = ["first_name", "last_name", "phone", "email"]


def _rows(n, start=0):
    return [HEADER] + [[f"P{i}", "Test", f"+1415555{2000 + start + i:04d}", ""] for i in range(n)]


def _contacts(org) -> int:
    with scopes_disabled():
        return Contact.objects.filter(organization=org).count()


def test_an_import_over_the_cap_imports_what_fits_and_reports_the_rest(tenant_a, settings):
    from billing.models import Plan

    put_on_plan(tenant_a.org, "free")
    cap = Plan.objects.get(code="free").contact_cap
    job = run_file(tenant_a, csv_bytes(_rows(cap + 3)))
    assert (job.created_count, job.over_cap_count, job.skipped_count) == (cap, 3, 3)
    assert _contacts(tenant_a.org) == cap
    rows = error_rows(job)
    assert [r["row"] for r in rows] == [str(cap + 2), str(cap + 3), str(cap + 4)]  # the header is row 1
    assert all("contact cap" in r["reason"] for r in rows)
    page = tenant_a.client_for("owner").get(f"/contacts/import/{job.uuid}/result/").content.decode()
    assert "did not fit your plan" in page and "3 new contacts" in page


def test_a_second_import_at_the_cap_imports_none_and_says_why(tenant_a):
    from billing.models import Plan

    put_on_plan(tenant_a.org, "free")
    cap = Plan.objects.get(code="free").contact_cap
    run_file(tenant_a, csv_bytes(_rows(cap)))
    second = run_file(tenant_a, csv_bytes(_rows(2, start=cap)))
    assert (second.created_count, second.over_cap_count) == (0, 2)
    assert _contacts(tenant_a.org) == cap
    reasons = [r["reason"] for r in error_rows(second)]
    assert len(reasons) == 2 and all("contact" in r and "pgrade" in r for r in reasons)


def test_updates_of_existing_contacts_never_count_against_the_cap(tenant_a):
    from billing.models import Plan

    put_on_plan(tenant_a.org, "free")
    cap = Plan.objects.get(code="free").contact_cap
    run_file(tenant_a, csv_bytes(_rows(cap)))
    again = run_file(tenant_a, csv_bytes(_rows(cap)))
    assert (again.updated_count, again.over_cap_count) == (cap, 0)
