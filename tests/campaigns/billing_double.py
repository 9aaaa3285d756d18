"""A double of billing's two calls campaigns makes (``check_segments``, ``estimate_cost``),
patched onto billing's real module; set ``remaining`` to refuse (with billing's own
``QuotaExceeded``).

Shared by the campaigns tests (an autouse fixture in their conftest) and the campaigns API tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BillingContract:
    remaining: int | None = None  # None: unlimited
    included: int = 1000
    checks: list[tuple[int, int]] = field(default_factory=list)


def install(monkeypatch) -> BillingContract:
    """Patch the double in for one test; returns the contract the test adjusts."""
    import billing.services
    from billing import QuotaExceeded

    contract = BillingContract()

    def check_segments(*, organization_id, segments):
        contract.checks.append((organization_id, segments))
        if contract.remaining is not None and segments > contract.remaining:
            raise QuotaExceeded("quota_exceeded", "quota exceeded", needed=segments,
                                included=contract.included, used=contract.included - contract.remaining,
                                remaining=contract.remaining)

    def estimate_cost(*, organization_id, segments):
        return {"segments": segments, "amount": f"{segments * 0.01:.2f}", "currency": "USD"}

    # Only the calls campaigns makes, on billing's real module: swapping the whole module made
    # any later first import of billing.services (the importer's) fail. The exception is billing's
    # own, never a stand-in patched onto ``billing``: a module first imported while one was in
    # place (``from billing import QuotaExceeded`` in messaging's channel views) kept it for the
    # rest of the run, and its plan refusals stopped being recognised (a 402 became a 200).
    monkeypatch.setattr(billing.services, "check_segments", check_segments)
    monkeypatch.setattr(billing.services, "estimate_cost", estimate_cost)
    return contract
