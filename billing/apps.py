from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # accounts sits below billing: it offers hook points and billing registers with them.
        from accounts import org_hooks
        from billing import plan_cache  # noqa: F401 (connects the receivers that drop its entries)

        org_hooks.on_organization_created(_start_trial)
        org_hooks.on_seats_requested(_check_seats)


def _start_trial(*, organization) -> None:
    from django.conf import settings

    from billing.services import start_trial

    start_trial(organization=organization, plan_code=settings.BILLING_TRIAL_PLAN)


def _check_seats(*, organization_id: int, adding: int) -> None:
    from billing.services import check_users

    check_users(organization_id=organization_id, adding=adding)
