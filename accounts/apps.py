from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self):
        from accounts import audit_hooks, checks, two_factor_methods  # noqa: F401 - checks registers

        two_factor_methods.register_methods()
        from accounts import secret_fields

        # TOTP seeds and 2FA phone numbers sealed, backup codes hashed (issue 15.14).
        secret_fields.install()
        from axes.models import AccessAttempt
        from django.db.models.signals import pre_save

        from accounts.lockout import drop_typed_request_data

        # Failed sign-ins keep counts, never what was typed (issue 15.14).
        pre_save.connect(drop_typed_request_data, sender=AccessAttempt,
                         dispatch_uid="accounts.axes_no_request_data")
        audit_hooks.connect()
