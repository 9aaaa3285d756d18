"""Template helpers for billing pages: money and caps, formatted without floats."""

from django import template

from billing.periods import format_money

register = template.Library()


@register.filter
def money(minor, currency="USD") -> str:
    """``{{ plan.monthly_price|money:plan.currency }}`` → ``$49.00``."""
    return format_money(int(minor or 0), currency)


@register.filter
def cap(value) -> str:
    """A cap, or "Unlimited" when the plan has none."""
    return "Unlimited" if value is None else f"{value:,}"


@register.filter
def tens(percent) -> int:
    """A percentage rounded down to tens (progress bars are sized by class, not inline style)."""
    return min(max(int(percent or 0) // 10 * 10, 0), 100)
