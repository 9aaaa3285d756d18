from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self):
        from accounts import audit_hooks, checks, two_factor_methods  # noqa: F401 - checks registers

        two_factor_methods.register_methods()
        audit_hooks.connect()
