"""Store every e-mail in its canonical form; keep django-axes' records free of typed text.

- User and Invitation e-mails become `accounts.email_address.canonical_email(...)`. Two users
  whose addresses become the same refuse the migration with both ids named (decide which
  account to keep, change or remove the other, run it again): merging would be a guess.
- Axes' records name accounts by `accounts.lockout.lockout_key` (a keyed hash) from now on;
  existing rows are rewritten the same way and their stored request data dropped.
"""

from collections import defaultdict

from django.db import migrations
from django_scopes import scopes_disabled

from accounts.email_address import canonical_email
from accounts.lockout import lockout_key


class EmailCollision(RuntimeError):
    pass


def canonicalise_emails(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Invitation = apps.get_model("accounts", "Invitation")
    owners = defaultdict(list)
    for pk, email in User.objects.values_list("pk", "email"):
        owners[canonical_email(email)].append(pk)
    clashes = {email: ids for email, ids in owners.items() if len(ids) > 1}
    if clashes:
        described = "; ".join(f"users {sorted(ids)}" for ids in clashes.values())
        raise EmailCollision(
            "Cannot canonicalise e-mail addresses: these accounts would share one address "
            f"({described}). Change or remove all but one account of each group, then migrate again.")
    for pk, email in User.objects.values_list("pk", "email"):
        if canonical_email(email) != email:
            User.objects.filter(pk=pk).update(email=canonical_email(email))
    with scopes_disabled():  # a migration spans every organisation
        for pk, email in Invitation.objects.values_list("pk", "email"):
            if canonical_email(email) != email:
                Invitation.objects.filter(pk=pk).update(email=canonical_email(email))


def hash_lockout_records(apps, schema_editor):
    for name in ("AccessAttempt", "AccessLog", "AccessFailureLog"):
        model = apps.get_model("axes", name)
        for pk, username in model.objects.exclude(username__startswith="acct:").exclude(
                username=None).values_list("pk", "username"):
            model.objects.filter(pk=pk).update(username=lockout_key(username) or None)
    apps.get_model("axes", "AccessAttempt").objects.update(get_data="", post_data="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_access_security"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        migrations.RunPython(canonicalise_emails, migrations.RunPython.noop),
        migrations.RunPython(hash_lockout_records, migrations.RunPython.noop),
    ]
