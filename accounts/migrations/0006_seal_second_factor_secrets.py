"""Seal the TOTP seeds and 2FA phone numbers already stored, and hash the stored backup codes.

From now on accounts.secret_fields does this on every write; this pass covers the rows that
django-otp and django-two-factor-auth wrote in plain text before.
"""

from django.db import migrations


def seal_existing(apps, schema_editor):
    from accounts.secret_fields import (
        HASHED_PREFIX,
        hash_backup_code,
        is_sealed,
        seal_phone,
        seal_totp_key,
    )

    # Historical models: plain CharFields here, so what is written is exactly what is stored.
    TOTPDevice = apps.get_model("otp_totp", "TOTPDevice")
    for pk, key in TOTPDevice.objects.values_list("pk", "key"):
        if key and not is_sealed(key):
            TOTPDevice.objects.filter(pk=pk).update(key=seal_totp_key(key))
    PhoneDevice = apps.get_model("phonenumber", "PhoneDevice")
    for pk, number in PhoneDevice.objects.values_list("pk", "number"):
        if number and not is_sealed(str(number)):
            PhoneDevice.objects.filter(pk=pk).update(number=seal_phone(str(number)))
    StaticToken = apps.get_model("otp_static", "StaticToken")
    for pk, token in StaticToken.objects.values_list("pk", "token"):
        if token and not token.startswith(HASHED_PREFIX):
            StaticToken.objects.filter(pk=pk).update(token=str(hash_backup_code(token)))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_datakey_decrypt_only_state"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
        ("phonenumber", "0001_squashed_0001_initial"),
    ]

    operations = [migrations.RunPython(seal_existing, migrations.RunPython.noop)]
