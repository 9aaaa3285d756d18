"""Campaign fixtures: actors per persona, a simulator channel, templates, and billing's contract.

``billing_contract`` (autouse) patches a double of the two billing calls campaigns makes
(``tests/campaigns/billing_double.py``), so the tests control the plan: set
``billing_contract.remaining`` to make it refuse. The billing tests exercise the real plans.
"""

from __future__ import annotations

import pytest
from django_scopes import scope

from accounts.actor import Actor, actor_for
from tests.campaigns import billing_double
from tests.factories import system_actor


@pytest.fixture(autouse=True)
def billing_contract(monkeypatch):
    return billing_double.install(monkeypatch)


def actor_of(tenant, role: str) -> Actor:
    return actor_for(tenant.member(role), tenant.org)


@pytest.fixture
def admin_actor(tenant_a):
    return actor_of(tenant_a, "admin")


@pytest.fixture
def org_scope(tenant_a):
    with scope(organization=tenant_a.org):
        yield tenant_a.org


@pytest.fixture
def sms_channel(tenant_a, org_scope):
    from messaging.models import Channel

    return Channel.objects.create(organization=tenant_a.org, name="Front desk", provider="simulator",
                                  kind="sms", address="+15005550006", webhook_secret="s3cret",
                                  rate_limit_per_second=10)


@pytest.fixture
def make_template(admin_actor, tenant_a, org_scope):
    from campaigns.services.templates import create_template

    def make(body: str = "Hi {{ first_name | \"there\" }}, your flu shot is due at {{ organisation }}.",
             *, name: str | None = None, on_missing: str = "skip", language: str = "en"):
        make.n += 1
        return create_template(actor=admin_actor, organization=tenant_a.org,
                               name=name or f"Template {make.n}", on_missing=on_missing,
                               language=language, body=body)

    make.n = 0
    return make


@pytest.fixture
def make_campaign(admin_actor, tenant_a, sms_channel, make_template):
    from campaigns.services.campaigns import create_campaign

    def make(*, kind: str = "care", template=None, channel=None, **values):
        return create_campaign(actor=admin_actor, organization=tenant_a.org, name="Flu shots", kind=kind,
                               channel=channel or sms_channel, template=template or make_template(), **values)

    return make


@pytest.fixture
def make_contact(tenant_a, org_scope):
    from contacts.services import create_contact

    counter = iter(range(10_000))

    def make(**values):
        values.setdefault("phone", f"+1415555{next(counter):04d}")
        values.setdefault("first_name", "Ada")
        return create_contact(actor=system_actor(tenant_a.org), organization=tenant_a.org, **values)

    return make
