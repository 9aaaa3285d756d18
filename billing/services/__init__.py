"""billing's public interface: the functions other apps' services call before and as they act.

- metering: ``record_outbound``, ``record_outbound_many``, ``record_inbound``
- quotas: ``check_segments``, ``check_contacts``, ``check_channels``, ``check_users``,
  ``check_feature``, ``estimate_cost`` (raise ``billing.QuotaExceeded``)
- subscriptions: ``start_trial``, ``change_plan``, ``subscription_for``
- periods: ``close_billing_periods``
"""

from billing.services.metering import record_inbound, record_outbound, record_outbound_many
from billing.services.quotas import (
    Allowance,
    CostEstimate,
    api_requests_per_minute,
    check_channels,
    check_contacts,
    check_feature,
    check_segments,
    check_users,
    estimate_cost,
    segments_used,
)
from billing.services.statements import close_billing_periods
from billing.services.subscriptions import change_plan, start_trial, subscription_for

__all__ = [
    "Allowance", "CostEstimate", "api_requests_per_minute", "change_plan", "check_channels", "check_contacts",
    "check_feature",
    "check_segments", "check_users", "close_billing_periods", "estimate_cost", "record_inbound",
    "record_outbound", "record_outbound_many", "segments_used", "start_trial", "subscription_for",
]
