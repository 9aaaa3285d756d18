"""THE billing call site of campaigns: a campaign asks billing here, and only here.

``billing.services.check_segments(organization_id=, segments=)`` raises ``billing.QuotaExceeded``
(code, message, needed, included, used, remaining) and ``estimate_cost(organization_id=,
segments=)`` prices a send. Both are looked up on ``billing.services`` at each call, so the
campaigns tests can stand a double in for the plan (tests/campaigns/billing_double.py). Metering
(per segment as it goes out) belongs to messaging's send path.
"""

from __future__ import annotations

import billing.services
from billing import QuotaExceeded
from campaigns.errors import CampaignRefused


def check_campaign_segments(*, organization_id: int, segments: int) -> None:
    """Ask billing whether ``segments`` more fit the organisation's plan; refuse with the numbers."""
    try:
        billing.services.check_segments(organization_id=organization_id, segments=segments)
    except QuotaExceeded as exc:
        needed, included, remaining = exc.needed, exc.included or 0, exc.remaining
        raise CampaignRefused(
            "quota_exceeded",
            f"This campaign needs {needed:,} segments; your plan includes {included:,} and "
            f"{remaining:,} remain this period. Narrow the audience, shorten the text, or upgrade "
            "the plan (Billing).", needed=needed, included=included, remaining=remaining) from None


def estimate_campaign_cost(*, organization_id: int, segments: int):
    """Billing's price for ``segments`` (shown beside the audience count)."""
    return billing.services.estimate_cost(organization_id=organization_id, segments=segments)


def cost_label(cost) -> str:
    """Billing's estimate as a short text: "12.40 USD" from an amount and currency (attributes
    or keys), else the estimate's own text."""
    if cost is None:
        return ""
    amount = cost.get("amount") if isinstance(cost, dict) else getattr(cost, "amount", None)
    currency = cost.get("currency") if isinstance(cost, dict) else getattr(cost, "currency", "")
    return f"{amount} {currency}".strip() if amount is not None else str(cost)
