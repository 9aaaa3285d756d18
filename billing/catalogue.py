"""The default plan catalogue: what a fresh database starts with (superusers edit it later).

Prices in US cents; overage per 1,000 segments (a segment costs less than a cent).
"""

DEFAULT_PLANS = [
    dict(code="free", name="Free", sort_order=10, tagline="Try two-way texting with a small patient list.",
         monthly_price=0, included_segments=100, overage_price_per_1000=None, contact_cap=250,
         channel_cap=1, user_cap=2, api_requests_per_minute=0, feature_whatsapp=False, feature_api=False,
         feature_intake=False, feature_reminders=False, retention_days_options=[90], trial_days=0),
    dict(code="starter", name="Starter", sort_order=20, tagline="A single practice texting its patients.",
         monthly_price=4900, included_segments=1000, overage_price_per_1000=900, contact_cap=2000,
         channel_cap=2, user_cap=5, api_requests_per_minute=60, feature_whatsapp=False, feature_api=True,
         feature_intake=False, feature_reminders=True, retention_days_options=[90, 365], trial_days=14),
    dict(code="growth", name="Growth", sort_order=30, tagline="Several clinics, WhatsApp and the intake bot.",
         monthly_price=19900, included_segments=10000, overage_price_per_1000=800, contact_cap=20000,
         channel_cap=5, user_cap=20, api_requests_per_minute=300, feature_whatsapp=True, feature_api=True,
         feature_intake=True, feature_reminders=True, retention_days_options=[90, 365, 730], trial_days=14),
    dict(code="enterprise", name="Enterprise", sort_order=40,
         tagline="Health systems: unlimited contacts, custom retention, a named contact.",
         monthly_price=99900, included_segments=100000, overage_price_per_1000=600, contact_cap=None,
         channel_cap=None, user_cap=None, api_requests_per_minute=1200, feature_whatsapp=True,
         feature_api=True, feature_intake=True, feature_reminders=True,
         retention_days_options=[90, 365, 730, 2555], trial_days=0, contact_sales=True),
]


def ensure_default_plans(plan_model) -> int:
    """Create the default plans that are missing (by code); returns how many were created.

    The seed migration calls it, and so does billing when it finds no plan at all (a database
    whose tables were flushed, as transactional tests do): organisations can always start.
    """
    created = 0
    for fields in DEFAULT_PLANS:
        _, made = plan_model.objects.get_or_create(
            code=fields["code"], defaults={k: v for k, v in fields.items() if k != "code"})
        created += made
    return created
