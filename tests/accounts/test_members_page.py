"""The members page lists 50 people a page."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_members_page_shows_50_a_page_and_links_the_next(tenant_a):
    # 4 personas + 56 more = 60 members: 50 on page 1, 10 on page 2.
    Membership.objects.bulk_create([
        Membership(organization=tenant_a.org, role=Role.VIEWER,
                   user=UserFactory(email=f"member{n:03d}@org-a.test")) for n in range(56)])
    admin = tenant_a.client_for("admin")
    first = admin.get("/org/members/")
    html = first.content.decode()
    assert html.count("data-member=") == 50
    assert 'href="?page=2"' in html and "Page 1 of 2" in html and "60 members" in html
    second = admin.get("/org/members/?page=2").content.decode()
    assert second.count("data-member=") == 10
    ids = set(first.context["page_obj"].object_list.values_list("pk", flat=True))
    later_page = admin.get("/org/members/?page=2").context["page_obj"]
    later = set(later_page.object_list.values_list("pk", flat=True))
    assert not ids & later and len(ids | later) == 60  # nobody skipped or repeated


def test_a_junk_page_number_shows_a_page_instead_of_an_error(tenant_a):
    admin = tenant_a.client_for("admin")
    assert admin.get("/org/members/?page=abc").status_code == 200
    assert admin.get("/org/members/?page=999").status_code == 200


def test_a_small_team_sees_no_pager(tenant_a):
    page = tenant_a.client_for("admin").get("/org/members/").content.decode()
    assert 'data-testid="members-pages"' not in page
