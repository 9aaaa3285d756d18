"""THE billing call site of campaigns: a campaign asks billing here, and only here.

billing is being built in parallel (its own issue): ``billing.services.check_segments(
organization_id=, segments=)`` raises ``billing.QuotaExceeded`` (code, message, needed,
included, used, remaining) and ``estimate_cost(organization_id=, segments=)`` prices a send.
Both are imported when called, so campaigns loads before billing's services exist; the lead
wires nothing else. Metering (per segment as it goes out) belongs to messaging's send path.
"""

from __future__ import annotations

from campaigns.errors import CampaignRefused


def check_campaign_segments(*, organization_id: int, segments: int) -> None:
    """Ask billing whether ``segments`` more fit the organisation's plan; refuse with the numbers."""
    import billing
    from billing.services import check_segments

    try:
        check_segments(organization_id=organization_id, segments=segments)
    except billing.QuotaExceeded as exc:
        needed, included = getattr(exc, "needed", segments), getattr(exc, "included", 0)
        remaining = getattr(exc, "remaining", 0)
        raise CampaignRefused(
            "quota_exceeded",
            f"This campaign needs {needed:,} segments; your plan includes {included:,} and "
            f"{remaining:,} remain this period. Narrow the audience, shorten the text, or upgrade "
            "the plan (Billing).", needed=needed, included=included, remaining=remaining) from None


def estimate_campaign_cost(*, organization_id: int, segments: int):
    """Billing's price for ``segments`` (shown beside the audience count)."""
    from billing.services import estimate_cost

    return estimate_cost(organization_id=organization_id, segments=segments)


def cost_label(cost) -> str:
    """Billing's estimate as a short text: "12.40 USD" from an amount and currency (attributes
    or keys), else the estimate's own text."""
    if cost is None:
        return ""
    amount = cost.get("amount") if isinstance(cost, dict) else getattr(cost, "amount", None)
    currency = cost.get("currency") if isinstance(cost, dict) else getattr(cost, "currency", "")
    return f"{amount} {currency}".strip() if amount is not None else str(cost)
