"""Campaign fixtures: actors per persona, a simulator channel, templates, and billing's contract.

billing is built in another branch. Until it is merged, ``billing_contract`` installs a
double of the interface it promised (``billing.services.check_segments`` /
``estimate_cost``, ``billing.QuotaExceeded``) so campaigns' one call site is exercised;
tests set ``billing_contract.remaining`` to make it refuse. Once the real billing exists
the double still overrides it here (the lead may switch these tests to real plans).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django_scopes import scope

from accounts.actor import Actor, actor_for
from tests.factories import system_actor


@dataclass
class BillingContract:
    remaining: int | None = None  # None: unlimited
    included: int = 1000
    checks: list[tuple[int, int]] = field(default_factory=list)


class QuotaExceededDouble(Exception):
    def __init__(self, *, needed, included, used, remaining):
        super().__init__("quota exceeded")
        self.code, self.message = "quota_exceeded", "quota exceeded"
        self.needed, self.included, self.used, self.remaining = needed, included, used, remaining


@pytest.fixture(autouse=True)
def billing_contract(monkeypatch):
    import billing

    contract = BillingContract()

    def check_segments(*, organization_id, segments):
        contract.checks.append((organization_id, segments))
        if contract.remaining is not None and segments > contract.remaining:
            raise QuotaExceededDouble(needed=segments, included=contract.included,
                                      used=contract.included - contract.remaining,
                                      remaining=contract.remaining)

    def estimate_cost(*, organization_id, segments):
        return {"segments": segments, "amount": f"{segments * 0.01:.2f}", "currency": "USD"}

    # Only the two calls campaigns makes are doubled, on billing's real module: swapping the whole
    # module made any later first import of billing.services (the importer's) fail.
    import billing.services

    monkeypatch.setattr(billing.services, "check_segments", check_segments)
    monkeypatch.setattr(billing.services, "estimate_cost", estimate_cost)
    monkeypatch.setattr(billing, "QuotaExceeded", QuotaExceededDouble)
    return contract


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
