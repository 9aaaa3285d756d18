from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self):
        from accounts import audit_hooks, two_factor_methods

        two_factor_methods.register_methods()
        audit_hooks.connect()
