"""Plans, subscriptions, usage metering, quotas, statements and the pricing page.

Sits low in the app stack: it imports accounts and audit only. Higher apps call
``billing.services`` before they act, and register their resource counters with
``billing.usage_counts`` (so billing can count contacts and channels without importing them).
"""

from billing.exceptions import PlanChangeRefused, QuotaExceeded

__all__ = ["PlanChangeRefused", "QuotaExceeded"]
