"""`make run`'s demo organisation: loaded once, reused on every later run."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_scopes import scopes_disabled

from accounts.models import Membership, Organization, User
from contacts.models import Contact
from messaging.models import Channel


@pytest.fixture
def demo(settings, tmp_path, db):
    settings.VAR_DIR = tmp_path
    call_command("load_demo", verbosity=0)
    return (tmp_path / "demo-owner-password.txt").read_text().strip()


def counts():
    with scopes_disabled():  # test inspection across the whole database
        return (Organization.objects.count(), User.objects.count(), Membership.objects.count(),
                Contact.objects.count(), Channel.objects.count())


def test_load_demo_creates_the_demo_clinic_with_contacts_and_a_simulator_channel(demo):
    org = Organization.objects.get(slug="demo-clinic")
    assert org.name == "Demo Clinic"
    with scopes_disabled():
        assert Contact.objects.filter(organization=org).count() >= 3
        channel = Channel.objects.get(organization=org)
        assert (channel.provider, channel.is_default) == ("simulator", True)
    assert len(demo) >= 12


def test_a_second_run_reuses_everything_and_loses_nothing(demo, settings):
    before = counts()
    call_command("load_demo", verbosity=0)
    assert counts() == before
    assert (settings.VAR_DIR / "demo-owner-password.txt").read_text().strip() == demo


def test_the_demo_password_is_what_the_owner_signs_in_with(demo):
    owner = User.objects.get(email="owner@demo.clinic")
    assert owner.check_password(demo)
    assert Membership.objects.get(user=owner).role == "owner"
