"""A double of billing's two calls campaigns makes (``check_segments``, ``estimate_cost``) and of
``billing.QuotaExceeded``, patched onto billing's real module; set ``remaining`` to refuse.

Shared by the campaigns tests (an autouse fixture in their conftest) and the campaigns API tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


def install(monkeypatch) -> BillingContract:
    """Patch the double in for one test; returns the contract the test adjusts."""
    import billing
    import billing.services

    contract = BillingContract()

    def check_segments(*, organization_id, segments):
        contract.checks.append((organization_id, segments))
        if contract.remaining is not None and segments > contract.remaining:
            raise QuotaExceededDouble(needed=segments, included=contract.included,
                                      used=contract.included - contract.remaining,
                                      remaining=contract.remaining)

    def estimate_cost(*, organization_id, segments):
        return {"segments": segments, "amount": f"{segments * 0.01:.2f}", "currency": "USD"}

    # Only the calls campaigns makes, on billing's real module: swapping the whole module made
    # any later first import of billing.services (the importer's) fail.
    monkeypatch.setattr(billing.services, "check_segments", check_segments)
    monkeypatch.setattr(billing.services, "estimate_cost", estimate_cost)
    monkeypatch.setattr(billing, "QuotaExceeded", QuotaExceededDouble)
    return contract
