"""Styled 403/404/500 pages with the navigation and a way back; the admin tells staff why not (15.10)."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_opening_the_admin_are_told_why_instead_of_looping(tenant_a, role):
    client = tenant_a.client_for(role)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    page = client.get("/admin/login/?next=/admin/")
    text = page.content.decode()
    assert page.status_code == 403
    assert "cannot use the admin" in text and f"({role})" in text
    assert 'data-testid="error-back"' in text and 'href="/"' in text
    assert 'class="navbar' in text and "Sign out" in text  # the navigation is there


def test_following_the_admin_redirects_ends_on_the_403_page_not_in_a_loop(tenant_a):
    response = tenant_a.client_for("staff").get("/admin/", follow=True)
    assert response.status_code == 403 and len(response.redirect_chain) == 1


def test_an_admin_whose_session_skipped_the_second_factor_is_told_to_verify(tenant_a):
    from accounts.admin_site import admin_site
    from accounts.models import Membership

    request = RequestFactory().get("/admin/")
    request.user = tenant_a.admin  # not OTP-verified in this request
    request.user.is_verified = lambda: False
    request.membership = Membership.objects.select_related("organization").get(user=tenant_a.admin)
    assert "two-factor verification" in admin_site.refusal_reason(request)


def test_signed_out_visitors_still_go_to_sign_in():
    response = Client().get("/admin/")
    assert response.status_code == 302
    assert Client().get(response["Location"])["Location"].startswith("/login/")


def test_a_forbidden_page_is_styled_and_says_what_to_do(tenant_a):
    response = tenant_a.client_for("viewer").get("/org/members/")
    text = response.content.decode()
    assert response.status_code == 403
    assert 'data-testid="error-page"' in text and "ask an owner or admin" in text.lower()


def test_the_404_page_has_the_navigation_for_a_signed_in_person(tenant_a):
    response = tenant_a.client_for("staff").get("/no/such/page/")
    text = response.content.decode()
    assert response.status_code == 404
    assert "We can't find that page" in text and "Back to the dashboard" in text
    assert tenant_a.org.name in text  # the navbar's organisation


def test_the_404_page_renders_for_a_visitor_with_no_user_or_organisation(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "Go to sign-in" in response.content.decode()


def test_the_error_pages_render_for_a_bare_request_without_user_or_organisation():
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import page_not_found, permission_denied

    request = RequestFactory().get("/x")  # no middleware ran: no user, session or organisation
    assert permission_denied(request, PermissionDenied("Not for you.")).status_code == 403
    assert b"Not for you." in permission_denied(request, PermissionDenied("Not for you.")).content
    assert page_not_found(request, Exception()).status_code == 404


def test_the_500_page_renders_without_the_database(django_db_blocker, django_assert_num_queries):
    from django.views.defaults import server_error

    with django_db_blocker.block():
        response = server_error(RequestFactory().get("/"))
    text = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in text and 'data-testid="error-back"' in text
    assert 'class="navbar' in text and "<script>" not in text
