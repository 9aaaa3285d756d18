"""Quotas: exactly at and one over each cap, segments on Free and paid plans, features."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django_scopes import scope, scopes_disabled

from accounts.models import Invitation
from billing import QuotaExceeded
from billing.models import Subscription, UsageNotice
from billing.services import (
    check_channels,
    check_contacts,
    check_feature,
    check_segments,
    check_users,
    estimate_cost,
    record_outbound,
)
from messaging.models import Channel
from tests.billing.conftest import put_on_plan
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def use_segments(org, n: int, origin: str = "campaign") -> None:
    record_outbound(organization_id=org.pk, channel_kind="sms", origin=origin, segments=n, messages=1)


def add_contacts(org, n: int) -> None:
    from contacts.models import Contact

    with scope(organization=org):
        Contact.objects.bulk_create([Contact(organization=org, origin="manual") for _ in range(n)])


def add_channels(org, n: int, kind: str = "sms") -> None:
    with scope(organization=org):
        for i in range(n):
            Channel.objects.create(organization=org, name=f"Channel {i}", provider="simulator", kind=kind,
                                   address=f"+1500555{i:04d}")


# --- segments ---------------------------------------------------------------------------------

def test_free_plan_sends_exactly_its_included_segments_and_refuses_one_more_with_the_numbers(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")  # 100 included, no overage
    use_segments(org, 97)
    allowance = check_segments(organization_id=org.pk, segments=3)
    assert (allowance.needed, allowance.included, allowance.used, allowance.remaining) == (3, 100, 97, 3)
    assert allowance.overage_segments == 0
    with pytest.raises(QuotaExceeded) as refused:
        check_segments(organization_id=org.pk, segments=4)
    error = refused.value
    assert error.code == "segments_exhausted"
    assert (error.needed, error.included, error.used, error.remaining) == (4, 100, 97, 3)
    assert "4 segments" in error.message and "only 3" in error.message and "100 included" in error.message
    assert "Upgrade" in error.message
    assert error.as_dict()["code"] == "segments_exhausted"


def test_a_paid_plan_sends_beyond_the_included_segments_as_priced_overage(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "starter")  # 1,000 included, 900 cents per 1,000 beyond
    use_segments(org, 990)
    allowance = check_segments(organization_id=org.pk, segments=1010)
    assert allowance.remaining == 10
    assert allowance.overage_segments == 1000
    assert allowance.overage_cost == 900
    assert allowance.currency == "USD"


@pytest.fixture
def clock(monkeypatch, settings):
    """The plan cache's clock (accounts/process_cache.py), with a 10-second lifetime."""
    from accounts import process_cache

    settings.BILLING_PLAN_CACHE_SECONDS = 10
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    return now


def test_a_paid_plan_reads_its_allowance_once_per_cache_time_counting_only_this_period(
        tenant_a, django_assert_num_queries, clock):
    org = tenant_a.org
    put_on_plan(org, "starter")  # 1,000 included
    use_segments(org, 1_100)
    with scopes_disabled():
        subscription = Subscription.objects.get(organization=org)
        for threshold in (80, 100):  # announced by the sends that used them
            UsageNotice.objects.create(organization=org, period_start=subscription.period_start,
                                       threshold=threshold)
        # Last period's usage is not this period's.
        from billing.models import UsageCounter

        UsageCounter.objects.create(organization=org, day=subscription.period_start - timedelta(days=1),
                                    direction="outbound", channel_kind="sms", origin="campaign",
                                    segments=5_000, messages=1)
    with django_assert_num_queries(2):  # plan, status and usage in one read; the period's notices
        allowance = check_segments(organization_id=org.pk, segments=20)
    assert (allowance.used, allowance.remaining, allowance.overage_segments) == (1_100, 0, 20)
    use_segments(org, 20)  # metered in this process: its cached allowance counts them at once
    with django_assert_num_queries(0):  # every send asks: the next ones within the cache time are free
        allowance = check_segments(organization_id=org.pk, segments=5)
    assert (allowance.used, allowance.overage_segments) == (1_120, 5)
    with scopes_disabled():  # another process's sends: seen once the entry lapses
        UsageCounter.objects.filter(organization=org, day__gte=subscription.period_start).update(
            segments=F("segments") + 1_000)
    assert check_segments(organization_id=org.pk, segments=1).used == 1_120
    clock[0] += 10.1
    assert check_segments(organization_id=org.pk, segments=1).used == 2_120


def test_a_paid_plan_announces_what_its_cached_usage_reaches_once_and_sees_other_processes_in_time(
        tenant_a, settings, clock, django_capture_on_commit_callbacks):
    from billing.models import UsageCounter

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = tenant_a.org
    put_on_plan(org, "starter")  # 1,000 included
    use_segments(org, 790)

    def send(segments: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            check_segments(organization_id=org.pk, segments=segments)
            use_segments(org, segments)

    def notices() -> list[int]:
        with scopes_disabled():
            return sorted(UsageNotice.objects.filter(organization=org).values_list("threshold", flat=True))

    # Asking is not sending: a campaign asks when scheduled and again when it starts.
    for _ in range(3):
        check_segments(organization_id=org.pk, segments=9)
    send(9)  # 79.9 %
    assert notices() == [] and mail.outbox == []
    send(1)  # 80 %
    send(1)
    assert notices() == [80] and len(mail.outbox) == 1
    with scopes_disabled():  # another process's sends: this one sees them at its next read
        UsageCounter.objects.filter(organization=org).update(segments=F("segments") + 300)
    send(1)
    assert notices() == [80]
    clock[0] += 10.1
    send(1)  # read again: past 100 %
    assert notices() == [80, 100] and len(mail.outbox) == 2
    assert "80 %" in mail.outbox[0].subject and "100 %" in mail.outbox[1].subject


def test_a_paid_plans_notice_rolled_back_with_its_send_is_sent_at_the_next_read(tenant_a, clock):
    org = tenant_a.org
    put_on_plan(org, "starter")
    use_segments(org, 799)
    with pytest.raises(RuntimeError), transaction.atomic():
        check_segments(organization_id=org.pk, segments=1)  # 80 %, in a send that then fails
        raise RuntimeError("the send's transaction rolls back")
    check_segments(organization_id=org.pk, segments=1)
    with scopes_disabled():
        assert not UsageNotice.objects.filter(organization=org).exists()
    clock[0] += 10.1
    check_segments(organization_id=org.pk, segments=1)
    with scopes_disabled():
        assert list(UsageNotice.objects.filter(organization=org).values_list("threshold", flat=True)) == [80]


def test_a_paid_plan_falling_past_due_refuses_at_once_here_and_within_the_cache_time_elsewhere(
        tenant_a, clock):
    org = tenant_a.org
    subscription = put_on_plan(org, "starter")
    check_segments(organization_id=org.pk, segments=1)
    subscription.status = Subscription.Status.PAST_DUE
    subscription.save()  # in this process: the entry is dropped
    with pytest.raises(QuotaExceeded) as refused:
        check_segments(organization_id=org.pk, segments=1)
    assert refused.value.code == "subscription_past_due"
    with scopes_disabled():
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.ACTIVE)
    check_segments(organization_id=org.pk, segments=1)  # cached again
    with scopes_disabled():  # another process's change: no signal here
        Subscription.objects.filter(pk=subscription.pk).update(status=Subscription.Status.PAST_DUE)
    check_segments(organization_id=org.pk, segments=1)
    clock[0] += 10.1
    with pytest.raises(QuotaExceeded):
        check_segments(organization_id=org.pk, segments=1)


def test_an_organisation_without_a_subscription_gets_its_trial_when_it_first_sends(db):
    org = OrganizationFactory()
    allowance = check_segments(organization_id=org.pk, segments=1)
    with scopes_disabled():
        sub = Subscription.objects.get(organization=org)
    assert (sub.status, allowance.used, allowance.included) == ("trial", 0, sub.plan.included_segments)


def test_estimate_cost_gives_the_campaign_preview_the_same_numbers_without_refusing(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    use_segments(org, 100)
    estimate = estimate_cost(organization_id=org.pk, segments=50)
    assert (estimate.remaining, estimate.overage_segments, estimate.overage_cost) == (0, 50, 0)


def test_overage_cost_rounds_half_up_to_the_cent(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "growth")  # 800 per 1,000 → 0.8 cent a segment
    use_segments(org, 10_000)
    assert estimate_cost(organization_id=org.pk, segments=1).overage_cost == 1  # 0.8 → 1
    assert estimate_cost(organization_id=org.pk, segments=3).overage_cost == 2  # 2.4 → 2


def test_a_trial_refuses_overage_and_says_to_confirm_the_plan(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "starter", status=Subscription.Status.TRIAL,
                trial_ends_at=timezone.now() + timedelta(days=5))
    use_segments(org, 1000)
    with pytest.raises(QuotaExceeded) as refused:
        check_segments(organization_id=org.pk, segments=1)
    assert refused.value.code == "segments_exhausted"
    assert "Confirm Starter" in refused.value.message


@pytest.mark.parametrize(("status", "code"), [("past_due", "subscription_past_due"),
                                               ("cancelled", "subscription_cancelled")])
def test_past_due_and_cancelled_subscriptions_refuse_every_send(tenant_a, status, code):
    put_on_plan(tenant_a.org, "growth", status=status)
    with pytest.raises(QuotaExceeded) as refused:
        check_segments(organization_id=tenant_a.org.pk, segments=1)
    assert refused.value.code == code
    assert "owner" in refused.value.message


def test_80_and_100_percent_are_announced_once_each_per_period(tenant_a, settings,
                                                              django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = tenant_a.org
    put_on_plan(org, "free")
    with django_capture_on_commit_callbacks(execute=True):
        check_segments(organization_id=org.pk, segments=79)
    use_segments(org, 79)
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        check_segments(organization_id=org.pk, segments=1)  # 80 %
    use_segments(org, 1)
    with django_capture_on_commit_callbacks(execute=True):
        check_segments(organization_id=org.pk, segments=1)  # 81 %: nothing new
    with django_capture_on_commit_callbacks(execute=True):
        check_segments(organization_id=org.pk, segments=20)  # 100 %
    with scopes_disabled():
        notices = UsageNotice.objects.filter(organization=org).values_list("threshold", flat=True)
        assert sorted(notices) == [80, 100]
    assert len(mail.outbox) == 2
    recipients = set(mail.outbox[0].to)
    assert recipients == {tenant_a.owner.email, tenant_a.admin.email}
    assert "80 %" in mail.outbox[0].subject and "100 %" in mail.outbox[1].subject


# --- contacts ---------------------------------------------------------------------------------

def test_contacts_exactly_at_the_cap_fit_and_one_over_is_refused_with_the_numbers(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")  # 250 contacts
    add_contacts(org, 249)
    assert check_contacts(organization_id=org.pk, adding=1) == 1
    add_contacts(org, 1)
    with pytest.raises(QuotaExceeded) as refused:
        check_contacts(organization_id=org.pk, adding=1)
    error = refused.value
    assert (error.code, error.included, error.used, error.remaining) == ("contact_cap", 250, 250, 0)
    assert "250 contacts" in error.message and "Upgrade" in error.message


def test_an_import_over_the_cap_is_told_how_many_rows_fit(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    add_contacts(org, 240)
    assert check_contacts(organization_id=org.pk, adding=25) == 10
    put_on_plan(org, "enterprise")  # no cap
    assert check_contacts(organization_id=org.pk, adding=25) == 25


@pytest.mark.django_db(transaction=True)
def test_two_imports_racing_for_the_last_free_contacts_never_pass_the_cap(tenant_a):
    """Each import counts and inserts under the subscription's row lock: the second waits."""
    from contacts.models import Contact

    org = tenant_a.org
    put_on_plan(org, "free")
    add_contacts(org, 245)
    first_counted = threading.Event()
    results: dict[str, int | str] = {}

    def importer(name: str, hold: bool) -> None:
        try:
            with transaction.atomic():
                fits = check_contacts(organization_id=org.pk, adding=5)
                if hold:
                    first_counted.set()
                    threading.Event().wait(0.3)  # keep the lock while the other import arrives
                with scope(organization=org):
                    Contact.objects.bulk_create([Contact(organization=org, origin="import")
                                                 for _ in range(fits)])
                results[name] = fits
        except QuotaExceeded as refused:
            results[name] = refused.code
        finally:
            connection.close()

    one = threading.Thread(target=importer, args=("one", True))
    one.start()
    first_counted.wait(5)
    two = threading.Thread(target=importer, args=("two", False))
    two.start()
    one.join(10)
    two.join(10)
    assert results == {"one": 5, "two": "contact_cap"}
    with scopes_disabled():
        assert Contact.objects.filter(organization=org).count() == 250


# --- channels, users, features ----------------------------------------------------------------

def test_channels_exactly_at_the_cap_fit_and_one_over_is_refused(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "starter")  # 2 channels
    add_channels(org, 1)
    check_channels(organization_id=org.pk, kind="sms")
    add_channels(org, 1)
    with pytest.raises(QuotaExceeded) as refused:
        check_channels(organization_id=org.pk, kind="sms")
    assert (refused.value.code, refused.value.included, refused.value.used) == ("channel_cap", 2, 2)
    assert "deactivate a channel" in refused.value.message


def test_inactive_channels_do_not_count_against_the_cap(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    add_channels(org, 1)
    with scope(organization=org):
        Channel.objects.update(is_active=False)
    check_channels(organization_id=org.pk, kind="sms")


def test_a_whatsapp_channel_is_refused_on_a_plan_without_whatsapp(tenant_a):
    put_on_plan(tenant_a.org, "starter")
    with pytest.raises(QuotaExceeded) as refused:
        check_channels(organization_id=tenant_a.org.pk, kind="whatsapp")
    assert refused.value.code == "feature_whatsapp"
    assert "SMS channel instead" in refused.value.message
    put_on_plan(tenant_a.org, "growth")
    check_channels(organization_id=tenant_a.org.pk, kind="whatsapp")


def test_users_exactly_at_the_cap_fit_and_pending_invitations_hold_seats(tenant_a):
    org = tenant_a.org  # four members (owner, admin, staff, viewer)
    put_on_plan(org, "starter")  # 5 users
    check_users(organization_id=org.pk)
    with scope(organization=org):
        Invitation.objects.create(organization=org, email="new@example.test", token_hash="x" * 64,
                                  expires_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(QuotaExceeded) as refused:
        check_users(organization_id=org.pk)
    assert (refused.value.code, refused.value.included, refused.value.used) == ("user_cap", 5, 5)
    assert "withdraw an invitation" in refused.value.message


def test_feature_flags_follow_the_plan(tenant_a):
    org = tenant_a.org
    put_on_plan(org, "free")
    for feature in ("api", "intake", "reminders", "whatsapp"):
        with pytest.raises(QuotaExceeded) as refused:
            check_feature(organization_id=org.pk, feature=feature)
        assert refused.value.code == f"feature_{feature}"
    put_on_plan(org, "starter")
    check_feature(organization_id=org.pk, feature="api")
    with pytest.raises(QuotaExceeded) as refused:
        check_feature(organization_id=org.pk, feature="intake")
    assert "Growth" in refused.value.message  # names the plans that have it


def test_an_organisation_without_a_subscription_gets_its_trial_on_first_question(db):
    org = OrganizationFactory()
    MembershipFactory(organization=org, role="owner")
    check_users(organization_id=org.pk)
    with scopes_disabled():
        sub = Subscription.objects.get(organization=org)
    assert (sub.plan.code, sub.status) == ("growth", "trial")


def test_the_api_budget_follows_the_plan_and_a_refusal_is_a_402_with_a_code(tenant_a):
    from rest_framework.views import APIView

    from billing.api import exception_handler
    from billing.services import api_requests_per_minute

    put_on_plan(tenant_a.org, "growth")
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == 300
    put_on_plan(tenant_a.org, "free")
    with pytest.raises(QuotaExceeded) as refused:
        api_requests_per_minute(organization_id=tenant_a.org.pk)
    response = exception_handler(refused.value, {"view": APIView()})
    assert response.status_code == 402
    assert response.data["error"]["code"] == "feature_api"
    assert "partner API" in response.data["error"]["message"]


def test_the_api_budget_is_read_once_per_cache_time_and_a_plan_change_is_seen_at_once(
        tenant_a, django_assert_num_queries, clock):
    from billing.models import Plan
    from billing.services import api_requests_per_minute

    put_on_plan(tenant_a.org, "growth")
    growth = Plan.objects.get(code="growth").api_requests_per_minute
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == growth
    with django_assert_num_queries(0):
        assert api_requests_per_minute(organization_id=tenant_a.org.pk) == growth
    # A change without signals (another process's) is seen once the entry lapses.
    Plan.objects.filter(code="growth").update(api_requests_per_minute=growth + 1)
    clock[0] += 9.9
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == growth
    clock[0] += 0.2
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == growth + 1
    # A plan change in this process drops the entry at once.
    put_on_plan(tenant_a.org, "enterprise")
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == Plan.objects.get(
        code="enterprise").api_requests_per_minute


def test_a_refused_api_budget_is_not_cached(tenant_a):
    from billing.models import Plan
    from billing.services import api_requests_per_minute

    put_on_plan(tenant_a.org, "free")
    with pytest.raises(QuotaExceeded):
        api_requests_per_minute(organization_id=tenant_a.org.pk)
    # The plan gains the API without a signal: the next request asks the database again.
    Plan.objects.filter(code="free").update(feature_api=True, api_requests_per_minute=7)
    assert api_requests_per_minute(organization_id=tenant_a.org.pk) == 7
